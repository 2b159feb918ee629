"""Tokenizer set-up (the fixed-padding trap) and the tiny offline tokenizer."""

import json

import numpy as np
import pytest
import tokenizers

from cacl_jax.encoder import tokenizer as tokenizer_lib
from cacl_jax.encoder import weights

LONG = "python " * 300


def test_tiny_tokenizer_frames_pads_and_truncates():
  tok = tokenizer_lib.tiny_tokenizer(max_len=16)
  vocab = tokenizer_lib.tiny_vocab()
  assert len(vocab) == len(set(vocab)) == tok.get_vocab_size()
  assert [tok.token_to_id(t) for t in ("<s>", "<pad>", "</s>")] == [0, 1, 2]
  short, long = tok.encode_batch(["Senior Nurse", LONG])
  assert short.tokens[:3] == ["<s>", "senior", "nurse"]
  assert short.ids[3] == 2 and short.ids[4:] == [1] * 12
  assert short.attention_mask == [1] * 4 + [0] * 12
  assert len(long.ids) == 16 and long.ids[-1] == 2
  # Accents are stripped, unknown words spelt out, unknown symbols [UNK].
  assert tok.encode("Zürich ☃").tokens == [
      "<s>", "z", "##u", "##r", "##i", "##c", "##h", "[UNK]", "</s>"]


def test_token_ids_are_unpadded():
  tok = tokenizer_lib.tiny_tokenizer(max_len=16)
  ids = tokenizer_lib.token_ids(tok, ["a", "a b c", LONG])
  assert [len(x) for x in ids] == [3, 5, 16]
  assert all(x.dtype == np.int32 for x in ids)
  assert tok.padding is not None  # The caller's tokenizer is untouched.
  plain = tokenizer_lib.unpadded(tok)
  assert plain.padding is None and plain.truncation["max_length"] == 16
  assert [len(x) for x in tokenizer_lib.token_ids(plain, ["a", LONG])] == [
      3, 16]


def test_folder_tokenizer_trap_is_reset(tmp_path):
  """A tokenizer.json with fixed padding/truncation at 128, like the real."""
  tok = tokenizer_lib.tiny_tokenizer()
  tok.enable_truncation(max_length=128)
  tok.enable_padding(pad_id=1, pad_token="<pad>", length=128)
  tok.save(str(tmp_path / "tokenizer.json"))
  (tmp_path / "sentence_bert_config.json").write_text(
      json.dumps({"max_seq_length": 200}))
  loaded = tokenizer_lib.load_tokenizer(tmp_path)
  short, long = loaded.encode_batch(["a b", LONG])
  assert len(long.ids) == 200 and len(short.ids) == 200
  assert sum(short.attention_mask) == 4
  assert len(loaded.encode_batch(["a b", "c"])[0].ids) == 4


@pytest.mark.parametrize("content,match", [
    (None, "missing"), ("{", "unreadable"),
    ('{"max_seq_length": "384"}', "integer")])
def test_max_seq_length_errors_name_the_file(tmp_path, content, match):
  if content is not None:
    (tmp_path / "sentence_bert_config.json").write_text(content)
  with pytest.raises((FileNotFoundError, ValueError),
                     match=f"sentence_bert_config.json.*{match}"):
    tokenizer_lib.read_max_seq_length(tmp_path)


def test_real_tokenizer_equals_sentence_transformers():
  try:
    folder = weights.resolve_model_dir(download=False)
  except weights.ModelNotFoundError:
    pytest.skip("real all-mpnet-base-v2 weights absent")
  transformers = pytest.importorskip("transformers")
  reference = transformers.AutoTokenizer.from_pretrained(str(folder))
  texts = ["Position: Senior Data Engineer [SEP] Skills: Python, SQL",
           "naïve café — Zürich 漢字 C++ .NET", "", LONG * 2,
           "a <pad> b <s> c </s> d <mask> e"]
  expected = reference(texts, padding=True, truncation="longest_first",
                       max_length=384, return_tensors="np")
  ours = tokenizer_lib.load_tokenizer(folder).encode_batch(texts)
  np.testing.assert_array_equal([e.ids for e in ours],
                                expected["input_ids"])
  np.testing.assert_array_equal([e.attention_mask for e in ours],
                                expected["attention_mask"])
  assert expected["input_ids"].shape[1] == 384
  assert expected["input_ids"][-1][2] == reference.pad_token_id


def _edge_texts(rng: np.random.Generator) -> list[str]:
  """Long texts that stress a head cut at a space: long words, [UNK] runs,
  no spaces at all, other whitespace, accents and CJK near the cut."""
  words = ["python", "Zürich", "☃☃☃", "x" * 150, "漢字", "a\tb", "c\nd",
           "<mask>", "senior", "data-engineer", "ﬁ", "e\u0301", "  "]
  texts = ["".join(rng.choice(words, size=n) + " ")
           for n in rng.integers(1, 400, size=60)]
  texts += [" ".join(rng.choice(words, size=n))
            for n in rng.integers(1, 400, size=60)]
  return texts + ["y" * 5000, "y" * 5000 + " z", " " * 3000 + "end",
                  "漢" * 3000, "short", ""]


@pytest.mark.parametrize("max_len", [8, 16, 128])
def test_token_ids_equal_whole_text_tokenisation(max_len):
  tok = tokenizer_lib.unpadded(tokenizer_lib.tiny_tokenizer(max_len))
  assert tokenizer_lib.cuts_at_spaces(tok)
  texts = _edge_texts(np.random.default_rng(max_len))
  expected = [e.ids for e in tok.encode_batch(texts)]
  got = tokenizer_lib.token_ids(tok, texts)
  assert [x.tolist() for x in got] == expected
  assert sum(len(x) == max_len for x in got) > len(texts) // 2


def test_real_token_ids_equal_whole_text_tokenisation():
  try:
    folder = weights.resolve_model_dir(download=False)
  except weights.ModelNotFoundError:
    pytest.skip("real all-mpnet-base-v2 weights absent")
  tok = tokenizer_lib.unpadded(tokenizer_lib.load_tokenizer(folder))
  assert tokenizer_lib.cuts_at_spaces(tok)
  texts = _edge_texts(np.random.default_rng(7))
  got = tokenizer_lib.token_ids(tok, texts)
  assert [x.tolist() for x in got] == [e.ids for e in tok.encode_batch(texts)]


def test_heads_are_not_cut_for_other_tokenizers():
  """Left truncation or a tokenizer that does not split at spaces gets
  every text whole."""
  left = tokenizer_lib.unpadded(tokenizer_lib.tiny_tokenizer(16))
  left.enable_truncation(max_length=16, direction="left")
  assert not tokenizer_lib.cuts_at_spaces(left)
  texts = ["python " * 50 + "nurse", "a b"]
  assert [x.tolist() for x in tokenizer_lib.token_ids(left, texts)] == [
      e.ids for e in left.encode_batch(texts)]
  assert tokenizer_lib.token_ids(left, texts)[0][-2] == left.token_to_id(
      "nurse")
  bpe = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="[UNK]"))
  bpe.pre_tokenizer = tokenizers.pre_tokenizers.Metaspace()
  assert not tokenizer_lib.cuts_at_spaces(bpe)
