r"""Writes the MPNet parity golden file from a tiny random torch `MPNetModel`.

The file holds the config, every weight, padded inputs, torch's last hidden
state, the mean-pooled L2-normalised sentence embeddings and torch's
relative-position buckets, so tests/mpnet_test.py checks the flax encoder
without torch. Weights are redrawn (N(0, 0.1²) for matrices and biases,
N(0, 1) for the relative-position bias, LayerNorm scales N(1, 0.2²)) instead
of torch's init, so that every parameter visibly affects the outputs.

The same model, wrapped with `tokenizer.tiny_tokenizer` as a
sentence-transformers model (mean pooling, Normalize), also encodes `TEXTS`:
texts holding the special tokens' strings ("<pad>", "<s>", "</s>", "<mask>")
literally, which the tokenizer turns into the special ids. The file keeps
sentence-transformers' ids, masks, position ids and embeddings of those
texts (keys `text_*`), for tests/mpnet_test.py and tests/encode_test.py.

Needs torch, transformers and sentence-transformers (the `reference` extra;
the file in tests/golden was made with the versions it records: torch 2.13.0,
transformers 5.24.0, sentence-transformers 6.2.0, whose module paths and
`preprocess` this script uses):

  python scripts/make_mpnet_golden.py --out=tests/golden/mpnet_tiny.npz
"""

import json
import tempfile

from absl import app
from absl import flags
import numpy as np

from cacl_jax.encoder import tokenizer as tokenizer_lib

_OUT = flags.DEFINE_string("out", "tests/golden/mpnet_tiny.npz",
                           "Where to write the golden .npz.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed for weights and inputs.")

CONFIG = {
    "vocab_size": len(tokenizer_lib.tiny_vocab()),
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 128,
    "max_position_embeddings": 514,
    "relative_attention_num_buckets": 32,
    "layer_norm_eps": 1e-5,
    "pad_token_id": 1,
    "hidden_act": "gelu",
}
# Lengths (special tokens included) of the padded batch: long enough for
# relative distances past max_distance=128, short ones to exercise padding.
LENGTHS = (150, 37, 5, 96)
REL_RANGE = 600
TEXT_MAX_LEN = 64
TEXTS = (
    "Position: nurse [SEP] Skills: <pad> care [SEP] Profile: ward duties.",
    "<pad>",
    "<pad> senior developer",
    "data analyst <pad>",
    "a <pad> <pad> b <pad> c",
    "x<pad>y",
    "<PAD> is not the pad token once lower-cased",
    "<s> senior </s> developer <mask> skills",
    "<mask>",
    "Position: accountant [SEP] Skills: excel, reporting",
    "",
    # Past TEXT_MAX_LEN tokens, with pads before and after the cut.
    "Profile: " + "built <pad> tools and improved tests. " * 12,
)


def main(argv):
  del argv
  import torch
  import transformers
  from transformers.models.mpnet import modeling_mpnet

  torch.manual_seed(_SEED.value)
  rng = np.random.default_rng(_SEED.value)
  config = transformers.MPNetConfig(**CONFIG, attn_implementation="eager")
  model = transformers.MPNetModel(config, add_pooling_layer=False).eval()
  with torch.no_grad():
    for name, p in model.named_parameters():
      noise = torch.from_numpy(rng.normal(0, 1, p.shape).astype(np.float32))
      if "LayerNorm.weight" in name:
        p.copy_(1.0 + 0.2 * noise)
      elif "relative_attention_bias" in name:
        p.copy_(noise)
      else:
        p.copy_(0.1 * noise)

  t = max(LENGTHS)
  input_ids = np.full((len(LENGTHS), t), CONFIG["pad_token_id"], np.int64)
  mask = np.zeros((len(LENGTHS), t), np.int64)
  for row, n in enumerate(LENGTHS):
    # Ids 0 and 2 frame each text like <s> … </s>; the body avoids pad id 1.
    input_ids[row, :n] = np.concatenate(
        [[0], rng.integers(3, CONFIG["vocab_size"], n - 2), [2]])
    mask[row, :n] = 1
  with torch.no_grad():
    hidden = model(input_ids=torch.from_numpy(input_ids),
                   attention_mask=torch.from_numpy(mask)).last_hidden_state
  hidden = hidden.numpy() * mask[..., None]
  pooled = hidden.sum(1) / mask.sum(1, keepdims=True)
  pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)

  rel = np.arange(-REL_RANGE, REL_RANGE + 1)
  buckets = modeling_mpnet.MPNetEncoder.relative_position_bucket(
      torch.from_numpy(rel)).numpy()

  texts = _sentence_transformers_texts(model)
  state = {f"weight/{k}": v.numpy() for k, v in model.state_dict().items()
           if k != "embeddings.position_ids"}
  np.savez_compressed(
      _OUT.value, config_json=np.array(json.dumps(CONFIG)),
      input_ids=input_ids.astype(np.int32),
      attention_mask=mask.astype(np.int32),
      last_hidden_state=hidden.astype(np.float32),
      sentence_embedding=pooled.astype(np.float32),
      relative_positions=rel.astype(np.int32),
      relative_buckets=buckets.astype(np.int32),
      torch_version=np.array(torch.__version__),
      transformers_version=np.array(transformers.__version__), **texts,
      **state)
  print(f"wrote {_OUT.value}")


def _sentence_transformers_texts(model) -> dict[str, np.ndarray]:
  """`TEXTS` through `model` as a sentence-transformers model: `text_*` keys.

  The model and `tiny_tokenizer` are saved to a temporary folder and loaded
  back by sentence-transformers' own Transformer module, so ids, masks and
  position ids are the ones it computes.
  """
  import sentence_transformers
  from sentence_transformers.sentence_transformer import modules
  import transformers
  from transformers.models.mpnet import modeling_mpnet

  tokenizer = transformers.PreTrainedTokenizerFast(
      tokenizer_object=tokenizer_lib.tiny_tokenizer(TEXT_MAX_LEN),
      bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
      pad_token=tokenizer_lib.PAD_TOKEN, unk_token="[UNK]",
      mask_token="<mask>")
  with tempfile.TemporaryDirectory() as folder:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    transformer = modules.Transformer(folder, max_seq_length=TEXT_MAX_LEN)
    reference = sentence_transformers.SentenceTransformer(
        modules=[transformer, modules.Pooling(CONFIG["hidden_size"], "mean"),
                 modules.Normalize()], device="cpu")
    features = reference.preprocess(list(TEXTS))
    embedding = reference.encode(list(TEXTS), batch_size=len(TEXTS),
                                 convert_to_numpy=True)
  input_ids = features["input_ids"]
  position_ids = modeling_mpnet.create_position_ids_from_input_ids(
      input_ids, CONFIG["pad_token_id"])
  assert bool((input_ids == CONFIG["pad_token_id"])[
      features["attention_mask"].bool()].any()), "no literal <pad> survived"
  return {"text_texts": np.array(TEXTS),
          "text_max_len": np.array(TEXT_MAX_LEN),
          "text_input_ids": input_ids.numpy().astype(np.int32),
          "text_attention_mask":
              features["attention_mask"].numpy().astype(np.int32),
          "text_position_ids": position_ids.numpy().astype(np.int32),
          "text_sentence_embedding": embedding.astype(np.float32),
          "sentence_transformers_version":
              np.array(sentence_transformers.__version__)}


if __name__ == "__main__":
  app.run(main)
