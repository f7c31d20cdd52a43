"""The tanji v1 wire contract: code generated from proto/tanji/v1 by `python -m tanji.protogen`.

Do not edit the *_pb2* modules here; change the .proto files and regenerate.
Signing and verification helpers live in tanji.protocol (envelope, signing), not here.
"""
