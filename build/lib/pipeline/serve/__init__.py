"""Serving the classifiers: scorers (MLflow pyfunc, classifier folders, ONNX), the resumable
batch job, Spark, and the ONNX export."""
