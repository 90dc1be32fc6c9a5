from sanic import Sanic, response

import app as user_src

user_src.init()
server = Sanic("my_app")


@server.route("/healthcheck", methods=["GET"])
def healthcheck(request):
    return response.json({"state": "healthy"})


@server.route("/", methods=["POST"])
def inference(request):
    return response.json(user_src.inference(request.json))


if __name__ == "__main__":
    server.run(host="0.0.0.0", port=8000, workers=1)
