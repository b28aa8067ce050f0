"""Data: the synthetic world, the ``data.yaml`` reader and the sequences of a tracking folder.

``synthetic`` renders the world (settings in ``synthetic_config``), ``yolo_dataset`` is the one reader of
``data.yaml`` files, ``sequences`` lists what a tracking folder holds.

Nothing is imported here, so that reading a config or a dataset file never loads OpenCV.
"""
