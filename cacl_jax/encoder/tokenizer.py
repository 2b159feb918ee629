"""Tokenizers for the encoder: the model folder's own, and a tiny offline one.

The sentence-transformers folder's `tokenizer.json` has truncation *and*
fixed padding to 128 built in. `load_tokenizer` resets both so that ids and
masks equal sentence-transformers': truncation at the folder's
`max_seq_length` (384 for all-mpnet-base-v2, special tokens included) and
padding to the batch's longest text with `<pad>`.

`tiny_tokenizer` needs no file at all: an MPNet-style WordPiece (lower-cased
BERT normalisation and pre-tokenisation, `<s> … </s>` around each text) over a
small fixed vocabulary — special tokens, single characters, their `##`
continuations and a few hundred frequent résumé/job words. Any text
tokenises (unknown characters become `[UNK]`), so the random test encoder
and the smoke-training config run without downloading anything.
"""

from __future__ import annotations

import json
import os
import pathlib
import string

import numpy as np
import tokenizers
from tokenizers import decoders, models, normalizers, pre_tokenizers, processors

PAD_TOKEN = "<pad>"
SPECIAL_TOKENS = ("<s>", PAD_TOKEN, "</s>", "[UNK]", "<mask>")

_TINY_WORDS = """
a an and as at be by for from in is of on or the to with we you our your sep
position skills required skill profile description experience years year
senior junior mid level lead principal entry intern manager engineer
developer analyst scientist designer consultant specialist administrator
architect technician assistant coordinator director officer nurse teacher
accountant sales marketing data software web cloud network security
systems system project product business customer service support team
management development design analysis research operations finance
financial health care quality test testing python java javascript sql
excel linux aws docker kubernetes machine learning communication
leadership planning reporting training work worked working responsible
building built build maintain maintained improve improved using use
company client clients users user tools tool process processes new
""".split()


def read_max_seq_length(model_dir: str | os.PathLike) -> int:
  """`max_seq_length` from sentence_bert_config.json (a required file)."""
  path = pathlib.Path(model_dir) / "sentence_bert_config.json"
  try:
    value = json.loads(path.read_text(encoding="utf-8"))["max_seq_length"]
  except FileNotFoundError:
    raise FileNotFoundError(f"{path}: missing; a sentence-transformers model "
                            "folder states its max_seq_length there") from None
  except (json.JSONDecodeError, KeyError, TypeError) as e:
    raise ValueError(f"{path}: field 'max_seq_length' unreadable: {e!r}"
                     ) from None
  if not isinstance(value, int) or value < 2:
    raise ValueError(f"{path}: field 'max_seq_length' must be an integer "
                     f">= 2, got {value!r}")
  return value


def configure(tokenizer: tokenizers.Tokenizer,
              max_len: int) -> tokenizers.Tokenizer:
  """Truncates at `max_len` tokens, pads to the batch's longest; in place."""
  pad_id = tokenizer.token_to_id(PAD_TOKEN)
  if pad_id is None:
    raise ValueError(f"tokenizer has no {PAD_TOKEN!r} token")
  tokenizer.enable_truncation(max_length=max_len)
  tokenizer.enable_padding(pad_id=pad_id, pad_token=PAD_TOKEN)
  return tokenizer


def load_tokenizer(model_dir: str | os.PathLike,
                   max_len: int | None = None) -> tokenizers.Tokenizer:
  """The folder's tokenizer.json, set up like sentence-transformers'."""
  path = pathlib.Path(model_dir) / "tokenizer.json"
  if not path.is_file():
    raise FileNotFoundError(f"{path}: missing tokenizer file")
  tokenizer = tokenizers.Tokenizer.from_file(str(path))
  return configure(tokenizer,
                   max_len if max_len else read_max_seq_length(model_dir))


def tiny_vocab() -> list[str]:
  """The fixed vocabulary of `tiny_tokenizer`, id order."""
  chars = string.ascii_lowercase + string.digits + string.punctuation
  vocab = list(SPECIAL_TOKENS) + list(chars) + ["##" + c for c in chars]
  return vocab + [w for w in dict.fromkeys(_TINY_WORDS) if w not in vocab]


def tiny_tokenizer(max_len: int = 128) -> tokenizers.Tokenizer:
  """A small MPNet-style WordPiece tokenizer built in code (no download)."""
  vocab = {token: i for i, token in enumerate(tiny_vocab())}
  tokenizer = tokenizers.Tokenizer(models.WordPiece(
      vocab, unk_token="[UNK]", max_input_chars_per_word=100))
  tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
  tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
  tokenizer.post_processor = processors.RobertaProcessing(
      ("</s>", vocab["</s>"]), ("<s>", vocab["<s>"]))
  tokenizer.decoder = decoders.WordPiece()
  tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
  return configure(tokenizer, max_len)


def unpadded(tokenizer: tokenizers.Tokenizer) -> tokenizers.Tokenizer:
  """A copy of `tokenizer` that truncates like it but never pads."""
  copy = tokenizers.Tokenizer.from_str(tokenizer.to_str())
  copy.no_padding()
  return copy


def token_ids(tokenizer: tokenizers.Tokenizer,
              texts: list[str]) -> list[np.ndarray]:
  """Unpadded, truncated int32 token ids of each text (specials included).

  A long text is first tokenised from a head cut at a space (`_head`): when
  the head alone fills the `max_length` tokens, the full text truncates to
  the same ids, since a space ends a word for a BERT-style tokenizer
  (`cuts_at_spaces`); otherwise a longer head, then the whole text, is
  tokenised. Ids are equal to tokenising every text whole.
  """
  if tokenizer.padding is not None:
    tokenizer = unpadded(tokenizer)
  texts = list(texts)
  encode = lambda batch: [np.asarray(e.ids, dtype=np.int32)
                          for e in tokenizer.encode_batch(batch)]
  max_len = (tokenizer.truncation or {}).get("max_length")
  if not max_len or not cuts_at_spaces(tokenizer):
    return encode(texts)
  ids: list[np.ndarray | None] = [None] * len(texts)
  todo = list(range(len(texts)))
  for chars_per_token in HEAD_CHARS_PER_TOKEN:
    heads = [_head(texts[i], chars_per_token * max_len) for i in todo]
    for i, head, x in zip(todo, heads, encode(heads)):
      if len(x) >= max_len or len(head) == len(texts[i]):
        ids[i] = x
    todo = [i for i in todo if ids[i] is None]
  for i, x in zip(todo, encode([texts[i] for i in todo])):
    ids[i] = x
  return ids


# Head lengths tried before a whole text, in characters per allowed token
# (the demo texts run ~2.3 characters per tiny-tokenizer token, ~5.4 per
# all-mpnet-base-v2 token).
HEAD_CHARS_PER_TOKEN = (4, 16)
_SPACE_SPLITTING = {
    "normalizer": {None, "BertNormalizer"},
    "pre_tokenizer": {"BertPreTokenizer"},
    "model": {"WordPiece"},
}


def cuts_at_spaces(tokenizer: tokenizers.Tokenizer) -> bool:
  """Whether a text's tokens up to a space are those of the text before it:
  a BERT-style normaliser, pre-tokenizer and WordPiece model, right
  truncation, and no added token containing a space."""
  spec = json.loads(tokenizer.to_str())
  for part, allowed in _SPACE_SPLITTING.items():
    if (spec.get(part) or {}).get("type") not in allowed:
      return False
  truncation = spec.get("truncation") or {}
  return (truncation.get("direction", "Right") == "Right"
          and not truncation.get("stride")
          and not any(" " in t["content"] for t in spec["added_tokens"]))


def _head(text: str, limit: int) -> str:
  """`text` up to its last space before character `limit` (whole if
  shorter than `limit` or without such a space)."""
  if len(text) <= limit:
    return text
  cut = text.rfind(" ", 0, limit)
  return text[:cut] if cut > 0 else text
