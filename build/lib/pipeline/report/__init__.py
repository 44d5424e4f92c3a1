"""What people read about the models and the corpus: the comparison dashboard, run tables,
model cards."""
