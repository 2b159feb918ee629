"""Using a trained model outside its training run: the exported bundle."""
