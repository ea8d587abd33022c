"""Which onnxruntime is installed, and a refusal of the broken CPU+GPU mix.

`onnxruntime` and `onnxruntime-gpu` install the same `onnxruntime` package; with both present the last one
unpacked wins file by file and, in practice, only CPUExecutionProvider is listed, so the CUDA path silently
cannot work. zoo installs exactly one (`.ci/setup` for CPU, `.ci/setup --gpu` for the GPU build) and
refuses to bench with both."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from zoo.errors import ZooError

DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu")
FIX = ("pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu  "
       "(or: .ci/setup --gpu; for CPU only: pip install onnxruntime)")


def installed_distributions() -> dict[str, str]:
    """Installed onnxruntime distributions -> version."""
    found = {}
    for name in DISTRIBUTIONS:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def check_single_install(found: dict[str, str] | None = None) -> None:
    """ZooError (with the fix) when both onnxruntime and onnxruntime-gpu are installed."""
    found = installed_distributions() if found is None else found
    if len(found) > 1:
        shown = ", ".join(f"{k} {v}" for k, v in found.items())
        raise ZooError(f"both {shown} are installed, so onnxruntime lists only the CPU provider; "
                       f"keep one: {FIX}.")


def preload_gpu_libraries() -> str:
    """``onnxruntime.preload_dlls()`` on the GPU build (loads the CUDA/cuDNN libraries pip installed with
    torch, so the CUDA provider finds them); "" when done or not needed, else why it failed."""
    import onnxruntime as ort

    if "onnxruntime-gpu" not in installed_distributions() or not hasattr(ort, "preload_dlls"):
        return ""
    try:
        ort.preload_dlls()
    except Exception as exc:  # a missing library must become a reason in the report, not a crash
        return f"onnxruntime.preload_dlls() failed: {type(exc).__name__}: {exc}"
    return ""


def build_info() -> dict[str, Any]:
    """The onnxruntime build: distribution, version, build string, CUDA/cuDNN versions (GPU builds) and providers."""
    import onnxruntime as ort

    info: dict[str, Any] = {"distributions": installed_distributions(), "version": ort.__version__,
                            "providers": list(ort.get_available_providers())}
    with_build = getattr(ort, "get_build_info", None)
    info["build"] = with_build() if with_build else None
    try:
        from onnxruntime.capi import build_and_package_info as package
    except ImportError:
        package = None
    info["package_name"] = getattr(package, "package_name", None)
    info["cuda_version"] = getattr(package, "cuda_version", None)
    info["cudnn_version"] = getattr(package, "cudnn_version", None)
    return info
