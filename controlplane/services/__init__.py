"""gRPC servicers: thin, each maps protos to store and domain calls and back."""
