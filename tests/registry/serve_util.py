"""What the registry fixtures' helper servers share (fault_proxy.py,
token_issuer.py): serving on the port the kernel picked, announced to the
fixture through a file that appears whole (written, then renamed)."""
import os
import signal


def serve_announced(server, port_file):
    """Serves SERVER forever, SIGTERM ending the process at once, after
    writing its port to PORT_FILE."""
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, port_file)
    server.serve_forever()
