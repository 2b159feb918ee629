"""cacl-jax: Career-Aware Contrastive Learning for resume–job matching in JAX.

`cacl_jax.Matcher` (`cacl_jax.serving.matcher.Matcher`) scores, ranks and
explains resumes and jobs with a trained model bundle; it is imported on
first use, so `import cacl_jax` stays light.
"""


def __getattr__(name: str):
  if name == "Matcher":
    from cacl_jax.serving.matcher import Matcher
    return Matcher
  raise AttributeError(f"module 'cacl_jax' has no attribute {name!r}")
