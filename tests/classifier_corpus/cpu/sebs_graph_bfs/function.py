import datetime

import igraph

graph_generating_begin = None


def handler(event):
    size = event.get("size")
    begin = datetime.datetime.now()
    graph = igraph.Graph.Barabasi(size, 10)
    generated = datetime.datetime.now()
    result = graph.bfs(0)
    end = datetime.datetime.now()
    return {"result": len(result[0]), "measurement": {
        "graph_generating_time": (generated - begin) / datetime.timedelta(microseconds=1),
        "compute_time": (end - generated) / datetime.timedelta(microseconds=1)}}
