"""Data: the synthetic world yololab generates (``synthetic``, settings in ``synthetic_config``), the one reader of
``data.yaml`` files (``yolo_dataset``) and the sequences of a tracking folder (``sequences``).

Nothing is imported here, so that reading a config or a dataset file never loads OpenCV.
"""
