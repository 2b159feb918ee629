r"""Encoder throughput: this JAX MPNet vs sentence-transformers on torch CPU.

Both encode the same serialized texts with the same all-mpnet-base-v2
weights, in one process, runs interleaved (ours, torch, ours, torch, …) so
that both see the same machine load. Reports texts/s of each (median over
`--runs`), the ratio ours / torch (median of the per-run ratios), our first
call (which includes jit compilation), the agreement of the two embeddings,
the peak resident memory, and how many token slots each spends per real token
(our packs vs sentence-transformers' character-sorted padded batches).

Texts (`--source`):
  generator: unique resume and job texts of the demo pair generator
    (cacl_jax.data.generator on the built-in ontology), serialized as §5.3;
  template: a deterministic §5.3-shaped template whose lengths spread over
    ~100-450 tokens (mean ~225), to compare with longer texts.

  python benchmarks/encoder_bench.py [--source=generator] [--num_texts=512] \
      [--runs=3] [--batch_size=32] [--batch_tokens=2048] \
      [--model=DIR_OR_HUB_ID]
"""

import resource
import statistics
import time

from absl import app
from absl import flags
import numpy as np

from cacl_jax.encoder import encode
from cacl_jax.encoder import tokenizer as tokenizer_lib
from cacl_jax.encoder import weights

_SOURCE = flags.DEFINE_enum("source", "generator", ["generator", "template"],
                            "Where the serialized texts come from.")
_NUM_TEXTS = flags.DEFINE_integer("num_texts", 512, "Texts to encode.")
_RUNS = flags.DEFINE_integer("runs", 3, "Timed runs of each encoder.")
_BATCH = flags.DEFINE_integer(
    "batch_size", 32, "sentence-transformers' texts per batch (its default).")
_BATCH_TOKENS = flags.DEFINE_integer("batch_tokens", 2048,
                                     "Our token slots per forward pass.")
_MODEL = flags.DEFINE_string("model", None,
                             "Model folder or hub id (default: resolver).")

_WORDS = ("data pipeline python sql cloud platform customer reporting "
          "analysis team project quality testing security network design "
          "maintain improve build deliver stakeholder budget planning "
          "research operations support training documentation").split()


def generator_texts(n: int) -> list[str]:
  """First `n` unique serialized texts of the demo generator, seed 0."""
  from cacl_jax.data import builtin  # pylint: disable=g-import-not-at-top
  from cacl_jax.data import esco_tables  # pylint: disable=g-import-not-at-top
  from cacl_jax.data import generator  # pylint: disable=g-import-not-at-top
  from cacl_jax.data import serialize  # pylint: disable=g-import-not-at-top
  tables = esco_tables.load_tables(builtin.builtin_esco_dir())
  texts: dict[str, None] = {}
  for pair in generator.generate_pairs(tables, 20 * n, seed=0):
    texts[serialize.serialize_resume(pair.resume)] = None
    texts[serialize.serialize_job(pair.job)] = None
    if len(texts) >= n:
      break
  if len(texts) < n:
    raise ValueError(f"generator gave only {len(texts)} unique texts")
  return list(texts)[:n]


def template_texts(n: int) -> list[str]:
  """`n` deterministic §5.3 texts, profile lengths spread 60-420 words."""
  rng = np.random.default_rng(0)
  texts = []
  for i in range(n):
    skills = ", ".join(rng.choice(_WORDS, 6))
    body = " ".join(rng.choice(_WORDS, int(rng.integers(60, 420))))
    if i % 2:
      texts.append(f"Position: Job {i} engineer [SEP] Required Skills: "
                   f"{skills} [SEP] Description: {body}")
    else:
      texts.append(f"Position: mid level analyst {i} [SEP] Skills: {skills} "
                   f"[SEP] Profile: {body}")
  return texts


def gemm_rates(m: int = 2048, k: int = 768, n: int = 3072, reps: int = 20
               ) -> tuple[float, float]:
  """Median GFLOP/s of one fp32 [m, k] x [k, n] matmul: (XLA, torch).

  The shape of the MLP's first dense layer on a 2048-token pack, jitted with
  the encoder's compile options; the two are timed alternately.
  """
  import jax  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  a = rng.standard_normal((m, k), np.float32)
  b = rng.standard_normal((k, n), np.float32)
  matmul = jax.jit(lambda x, y: x @ y,
                   compiler_options=encode.cpu_compiler_options())
  ja, jb = jax.device_put(a), jax.device_put(b)
  ta, tb, out = torch.from_numpy(a), torch.from_numpy(b), torch.empty(m, n)
  runs = {"xla": lambda: matmul(ja, jb).block_until_ready(),
          "torch": lambda: torch.matmul(ta, tb, out=out)}
  seconds = {name: [] for name in runs}
  for _ in range(reps + 1):
    for name, run in runs.items():
      start = time.perf_counter()
      run()
      seconds[name].append(time.perf_counter() - start)
  flops = 2 * m * k * n
  return tuple(flops / statistics.median(seconds[name][1:]) / 1e9
               for name in runs)


def main(argv):
  del argv
  import torch  # pylint: disable=g-import-not-at-top
  import sentence_transformers  # pylint: disable=g-import-not-at-top

  model_dir = weights.resolve_model_dir(_MODEL.value, download=False)
  make = generator_texts if _SOURCE.value == "generator" else template_texts
  texts = make(_NUM_TEXTS.value)
  ours = encode.TextEncoder.from_pretrained(
      model_dir, batch_tokens=_BATCH_TOKENS.value)
  lengths = [len(x) for x in tokenizer_lib.token_ids(ours.tokenizer, texts)]
  print(f"texts: {len(texts)} from {_SOURCE.value}; tokens mean "
        f"{np.mean(lengths):.0f}, min {min(lengths)}, max {max(lengths)}, "
        f"at the {ours.max_len} limit: "
        f"{sum(n >= ours.max_len for n in lengths)}")
  plan = encode.plan_packs(lengths, ours.batch_tokens, ours.batch_size)
  by_chars = np.argsort([-len(t) for t in texts], kind="stable")
  torch_slots = sum(
      len(chunk) * max(lengths[i] for i in chunk)
      for chunk in np.array_split(
          by_chars, list(range(_BATCH.value, len(texts), _BATCH.value))))
  print(f"token slots per real token: ours "
        f"{sum(g.tokens for g in plan) / sum(lengths):.3f} in {len(plan)} "
        f"packs of {len({(g.tokens, g.rows, g.length) for g in plan})} "
        f"shapes; sentence-transformers {torch_slots / sum(lengths):.3f}")
  torch_model = sentence_transformers.SentenceTransformer(
      str(model_dir), device="cpu")
  print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"model {model_dir}")

  start = time.perf_counter()
  emb_ours = ours.encode(texts)
  print(f"ours first call (incl. jit compile): "
        f"{time.perf_counter() - start:.1f} s")
  torch_model.encode(texts[:_BATCH.value], batch_size=_BATCH.value,
                     show_progress_bar=False)

  rates_ours, rates_torch = [], []
  for run in range(_RUNS.value):
    start = time.perf_counter()
    emb_ours = ours.encode(texts)
    rates_ours.append(len(texts) / (time.perf_counter() - start))
    start = time.perf_counter()
    emb_torch = torch_model.encode(texts, batch_size=_BATCH.value,
                                   convert_to_numpy=True,
                                   show_progress_bar=False)
    rates_torch.append(len(texts) / (time.perf_counter() - start))
    print(f"run {run}: ours {rates_ours[-1]:.2f} texts/s, torch "
          f"{rates_torch[-1]:.2f} texts/s", flush=True)

  diff = np.abs(emb_ours - emb_torch).max()
  cos = np.sum(emb_ours * emb_torch, axis=1).min()
  ratio = statistics.median(o / t for o, t in zip(rates_ours, rates_torch))
  peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  print(f"ours : {statistics.median(rates_ours):.2f} texts/s (median of "
        f"{_RUNS.value})")
  print(f"torch: {statistics.median(rates_torch):.2f} texts/s (median of "
        f"{_RUNS.value}, sentence-transformers batch {_BATCH.value})")
  print(f"ratio ours/torch: {ratio:.2f} (median of per-run ratios)")
  print(f"agreement: max |diff| {diff:.2e}, min cosine {cos:.7f}")
  print(f"peak RSS: {peak_mib:.0f} MiB (both models loaded)")
  xla, mkl = gemm_rates()
  print(f"one [2048,768]x[768,3072] fp32 matmul: XLA {xla:.0f} GFLOP/s, "
        f"torch (MKL) {mkl:.0f} GFLOP/s, ratio {xla / mkl:.2f}")


if __name__ == "__main__":
  app.run(main)
