"""Models: locating and loading them, the catalogue, int8 quantisation and the static word vectors."""
