"""Gradio demos of zoo models, served on onnxruntime, and Hugging Face Space generation.

Two halves:

- torch-free (copied verbatim into a generated Space, so they never import ``zoo``, torch or onnx):
  :mod:`demos.inputs` (checked image/row decoding and the model's preprocessing),
  :mod:`demos.runtime` (onnxruntime session, request batching, reading outputs),
  :mod:`demos.ui` (shared Gradio pieces), the per-kind builders named in :data:`demos.app.BUILDERS`
  (keyed by ``DemoHook.kind``) and :mod:`demos.app` (assembles and launches the Blocks app);
- zoo side: :mod:`demos.prepare` (SOURCE -> ONNX file + hook + examples), :mod:`demos.space`
  (writes a Space folder) and :mod:`demos.commands` (`zoo demo`, `zoo space`).
"""
