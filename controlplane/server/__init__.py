"""The grpc.aio server: bootstrap, interceptors, and the method table."""
