"""Editors that erase located PII from a model in place: depn (zero neurons), rome (rank-one), fpga (weighted ascent)."""
