#part-handler
def list_types():
    return ["text/x-example"]


def handle_part(data, ctype, filename, payload):
    pass
