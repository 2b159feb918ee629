"""Tokenizer set-up (the fixed-padding trap) and the tiny offline tokenizer."""

import json

import numpy as np
import pytest

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
