"""`memn2n` beyond the registry-wide contract: the bAbI-style generator (seeded, every question answerable
from its supporting facts), padding invariance of the memory network (adjacent and layer-wise tying), the
real bAbI parser and downloader on a local tar.gz, the demo's encoding of typed text (the same ids as
training), its refusals of bad input while it keeps answering, and the Space's copy of the modules it needs."""

from __future__ import annotations

import io
import tarfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.data.babi import (BABI_ARCHIVE, LOCATIONS, build_vocabulary, encode, generate_babi, load_babi_set, parse_babi,
                           read_babi_archive, words)
from zoo.errors import ZooError

QA1 = ("1 Mary moved to the bathroom.\n2 John went to the hallway.\n3 Where is Mary? \tbathroom\t1\n"
       "4 Daniel went back to the hallway.\n5 Sandra moved to the garden.\n6 Where is Daniel? \thallway\t4\n"
       "1 John travelled to the kitchen.\n2 Where is John? \tkitchen\t1\n")
QA2 = ("1 Mary got the milk there.\n2 John moved to the bedroom.\n3 Mary went to the office.\n"
       "4 Where is the milk? \toffice\t3 1\n")


@pytest.mark.parametrize("task", [1, 2])
def test_generator_is_seeded_and_every_question_follows_from_its_supporting_facts(task: int) -> None:
    questions = generate_babi(task, 200, seed=5)
    assert [asdict(q) for q in questions] == [asdict(q) for q in generate_babi(task, 200, seed=5)]
    assert [q.story for q in generate_babi(task, 200, seed=6)] != [q.story for q in questions]
    for q in questions:
        subject = words(q.question)[-1]  # "where is mary" / "where is the football"
        facts = [words(q.story[i]) for i in q.supporting]
        assert len(facts) == task and all(i < len(q.story) for i in q.supporting)
        if task == 1:  # the last move of the person asked about names the answer
            assert facts[0][0] == subject and facts[0][-1] == q.answer
            assert not any(words(s)[0] == subject for s in q.story[q.supporting[0] + 1:])
        else:  # the last get/drop of the object, and its holder's move to the answer
            grab, move = sorted(q.supporting, key=lambda i: subject not in words(q.story[i]))
            assert subject in words(q.story[grab]) and words(q.story[move])[-1] == q.answer
            person = words(q.story[grab])[0]
            assert words(q.story[move])[0] == person
            assert not any(subject in words(s) for s in q.story[grab + 1:])  # nothing happened to it since
            moves_after = [s for s in q.story[move + 1:] if words(s)[0] == person and words(s)[-1] in LOCATIONS]
            dropped = words(q.story[grab])[1] in ("dropped", "put", "discarded", "left")
            assert not moves_after or (dropped and move < grab), q
    answers = {q.answer for q in questions}
    assert len(answers) == 6  # every location is asked about: no trivial answer


@pytest.mark.parametrize("tying,encoding", [("adjacent", "position"), ("layer-wise", "bow")])
def test_padding_never_changes_an_answer_and_order_does(tying: str, encoding: str) -> None:
    from zoo.models.memn2n.network import MemN2NNet

    torch.manual_seed(0)
    net = MemN2NNet(30, 6, 3, 10, encoding, True, tying).eval()
    story = torch.randint(2, 30, (4, 5, 4))
    story[0, 3:] = 0  # a story of 3 sentences
    story[1, :, 2:] = 0  # short sentences
    query = torch.randint(2, 30, (4, 3))
    with torch.no_grad():
        base = net(story, query)
        padded = net(torch.nn.functional.pad(story, (0, 3, 0, 7)), torch.nn.functional.pad(query, (0, 5)))
        alone = net(story[:1, :3, :], query[:1])
        swapped = net(story[:, [1, 0, 2, 3, 4]], query)  # the temporal encoding sees the order
    torch.testing.assert_close(padded, base, rtol=0, atol=1e-6)
    torch.testing.assert_close(alone, base[:1], rtol=0, atol=1e-6)
    assert not torch.allclose(swapped, base, atol=1e-5)
    assert torch.allclose(base.sum(dim=1), torch.ones(4))


def write_archive(path: Path, files: dict[str, str]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_babi_parser_and_downloader_on_a_local_archive(tmp_path: Path) -> None:
    write_archive(tmp_path / BABI_ARCHIVE, {
        "tasks_1-20_v1-2/en/qa1_single-supporting-fact_train.txt": QA1 * 4,
        "tasks_1-20_v1-2/en/qa1_single-supporting-fact_test.txt": QA1,
        "tasks_1-20_v1-2/en-10k/qa1_single-supporting-fact_train.txt": QA1 * 9,
        "tasks_1-20_v1-2/en-10k/qa1_single-supporting-fact_test.txt": QA1,
        "tasks_1-20_v1-2/en/qa2_two-supporting-facts_train.txt": QA2 * 5,
        "tasks_1-20_v1-2/en/qa2_two-supporting-facts_test.txt": QA2})
    parsed = parse_babi(QA1)
    assert [(q.question, q.answer, q.supporting) for q in parsed] == [
        ("Where is Mary?", "bathroom", [0]), ("Where is Daniel?", "hallway", [2]), ("Where is John?", "kitchen", [0])]
    assert parsed[1].story == ["Mary moved to the bathroom.", "John went to the hallway.",
                               "Daniel went back to the hallway.", "Sandra moved to the garden."]
    assert parsed[2].story == ["John travelled to the kitchen."]  # numbering restarts: a new story
    two = read_babi_archive(tmp_path / BABI_ARCHIVE, 2)[0][0]
    assert two.answer == "office" and two.supporting == [2, 0]
    data = load_babi_set("babi", 1, data_dir=tmp_path, examples=1000, seed=0)  # the archive is there: no download
    assert len(data.splits["test"]) == 3 and len(data.splits["train"]) + len(data.splits["val"]) == 12
    assert len(load_babi_set("babi-10k", 1, data_dir=tmp_path).splits["test"]) == 3
    vocab = build_vocabulary(data.rows("train"), 6)
    story, query, answer = encode(data.rows("test"), vocab, memory_size=3)
    assert story.shape == (3, 3, 6) and [vocab.words[a] for a in answer] == ["bathroom", "hallway", "kitchen"]
    assert [vocab.words[i] for i in story[1, 2] if i] == ["sandra", "moved", "to", "the", "garden"]  # the last 3 kept
    with pytest.raises(ZooError, match="has no en/qa3_"):
        read_babi_archive(tmp_path / BABI_ARCHIVE, 3)
    with pytest.raises(ZooError, match="line 2 does not start with a sentence number"):
        parse_babi("1 Mary moved to the office.\nMary went home.\n")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / BABI_ARCHIVE).write_bytes(b"not a tar")
    with pytest.raises(ZooError, match="is not a readable tar.gz"):
        load_babi_set("babi", 1, data_dir=tmp_path / "bad")
    with pytest.raises(ZooError, match="makes tasks 1 and 2"):
        load_babi_set("babi-generated", 3)


def test_babi_download_fails_offline_with_a_data_dir_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.error
    import urllib.request

    from zoo.errors import OfflineError

    def no_network(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(OfflineError, match=f"could not download babi.*place {BABI_ARCHIVE}.*--data-dir"):
        load_babi_set("babi", 2, data_dir=tmp_path)
    assert not (tmp_path / BABI_ARCHIVE).exists()


@pytest.fixture(scope="module")
def demo_qa():
    """A MemoryQA over a tiny (untrained) memn2n served by PyTorch, its spec and its network."""
    from demos.memory import MemoryQA
    from demos.runtime import DemoModel
    from zoo import registry
    from zoo.runtime import torch_predictor

    spec = registry.create("memn2n", registry.card("memn2n").tiny)
    net = spec.build_model().eval()
    model = DemoModel("memn2n", spec.describe(), asdict(spec.demo()), torch_predictor(net, ["story", "query"], device="cpu"))
    return MemoryQA(model), spec, net


def test_demo_encodes_typed_text_as_training_does_and_answers(demo_qa) -> None:
    qa, spec, net = demo_qa
    story_text, question = spec.demo().examples[0]
    assert question.startswith("Where is")
    row = int(spec.data.splits["test"][0])
    feeds = qa.encoder.encode(story_text, question)
    story, query, _ = (a[row] for a in spec.arrays)
    np.testing.assert_array_equal(feeds["story"][0], story)  # the same ids as the training encoding
    np.testing.assert_array_equal(feeds["query"][0], query)
    got = qa.answer(story_text, question)
    with torch.no_grad():
        direct = net(torch.from_numpy(story[None]), torch.from_numpy(query[None]))[0].numpy()
    assert len(got) == 5 and not {"<pad>", "<unk>"} & set(got)
    for word, p in got.items():
        assert p == pytest.approx(direct[spec.config.vocab.index(word)], abs=1e-6)


def test_demo_refuses_bad_input_with_one_line_and_keeps_answering(demo_qa) -> None:
    import gradio as gr

    from demos.ui import user_errors

    qa, spec, _ = demo_qa
    story, question = spec.demo().examples[0]
    answer = user_errors(qa.answer)
    too_many = "\n".join(["Mary went to the kitchen."] * (spec.config.memory_size + 1))
    too_long = "Mary went to the kitchen " + "and the hallway " * spec.config.sentence_len
    for args, phrase in (((" ", question), "story is empty"), ((None, question), "story is empty"),
                         ((story, ""), "question is empty"),
                         (("Mary flew to the moon.", question), "does not know the word 'flew'"),
                         ((story, "Where is Bob?"), "question: the model does not know the word 'bob'"),
                         ((too_many, question), f"remembers at most {spec.config.memory_size}"),
                         ((too_long, question), f"reads at most {spec.config.sentence_len}"),
                         (("!!! ...", question), "story is empty")):
        with pytest.raises(gr.Error) as refused:
            answer(*args)
        assert phrase in str(refused.value.message) and "\n" not in str(refused.value.message), (args, refused.value.message)
        assert answer(story, question) == qa.answer(story, question)  # still answering


def test_space_copies_the_tokenizer_module_the_memory_demo_needs() -> None:
    import importlib

    from demos.app import builder_module

    module = importlib.import_module(builder_module("memory-qa"))
    assert "demos.text" in module.REQUIRES and module.HOOK_EXAMPLES == "stories"
    source = Path(module.__file__).read_text()
    assert "import torch" not in source and "from zoo" not in source and "import zoo" not in source
