"""Mode C: homomorphic encryption (TenSEAL CKKS) so that no member sees the model in clear."""
