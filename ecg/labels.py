"""The five beat classes the model knows, in its output order, with names and AAMI groups."""

BEAT_CLASSES = ("N", "L", "R", "V", "A")

CLASS_NAMES = {
    "N": "Normal beat",
    "L": "Left bundle branch block beat",
    "R": "Right bundle branch block beat",
    "V": "Premature ventricular contraction",
    "A": "Atrial premature beat",
}

# AAMI EC57 groups: bundle branch blocks count as N, atrial premature beats as S.
AAMI_GROUP = {"N": "N", "L": "N", "R": "N", "V": "V", "A": "S"}
AAMI_CLASSES = ("N", "S", "V")

# WFDB annotation codes that mark a beat (the rest mark rhythm, noise or comments).
BEAT_SYMBOLS = ("N", "L", "R", "B", "A", "a", "J", "S", "V", "r", "F", "e", "j", "n", "E", "/", "f", "Q", "?")
