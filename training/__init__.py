"""What builds the shipped weights: the beat model's cross-validated training and record mode's
context model. Run as `python -m training.train` and `python -m training.train_context`.
"""
