"""One reader per database (MIT-BIH, SVDB, PTB-XL, and the noise recordings), each giving labelled
records in the same shape, and the cached set of training beats built from them.
"""
