"""The key holder: one fresh CKKS key pair per calculation, one decryption of the attested total."""
