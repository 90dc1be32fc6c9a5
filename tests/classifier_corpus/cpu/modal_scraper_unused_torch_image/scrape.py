import modal

image = modal.Image.debian_slim().pip_install("requests", "beautifulsoup4", "torch")
app = modal.App("link-scraper", image=image)


@app.function(timeout=120)
@modal.web_endpoint(method="GET")
def links(url: str) -> dict:
    import requests
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(requests.get(url, timeout=20).text, "html.parser")
    return {"links": [a.get("href") for a in soup.find_all("a", href=True)]}
