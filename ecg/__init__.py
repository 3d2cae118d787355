"""What the app and record mode run: preprocessing, R-peak detection, whole-record analysis and its
context model, the atypical-beat warning, plots, example beats, archives of records, and the scores
every evaluation reports.
"""
