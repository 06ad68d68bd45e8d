#part-handler
def list_types():
    return ["text/x-reimage-note"]

def handle_part(data, ctype, filename, payload):
    pass
