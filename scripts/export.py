r"""Exports a trained run as a self-contained model bundle.

  python scripts/export.py --workdir=DIR [--out=FOLDER]

DIR is a Phase-2 workdir or an end-to-end workdir holding phase2/. Writes
`<phase2 workdir>/model/` (or FOLDER): both heads' parameters, the tuned
threshold, the effective configs and the encoder, ontology and package
identities (`cacl_jax.serving.bundle`), and prints where. Phase 2 already
does this at the end of training; this is for runs made before, or for a
copy elsewhere. A Phase-1 workdir recorded as a relative path is read
relative to the current folder, as training did.
"""

from absl import app, flags

from cacl_jax.serving import bundle

_WORKDIR = flags.DEFINE_string(
    "workdir", None, "A Phase-2 workdir, or an end-to-end one with phase2/.")
_OUT = flags.DEFINE_string(
    "out", None, "Bundle folder; default <phase2 workdir>/model.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  try:
    out = bundle.export(bundle.phase2_workdir(_WORKDIR.value), _OUT.value)
  except bundle.BundleError as e:
    raise SystemExit(f"export.py: {e}") from None
  print(f"Model bundle written to {out}")


if __name__ == "__main__":
  app.run(main)
