import io

import modal

image = modal.Image.debian_slim().pip_install("diffusers==0.27.2", "transformers", "accelerate", "torch")
app = modal.App("sdxl-turbo", image=image)

with image.imports():
    import torch
    from diffusers import AutoPipelineForText2Image


@app.cls(gpu=modal.gpu.A10G(), container_idle_timeout=240)
class Model:
    @modal.build()
    def download(self):
        from huggingface_hub import snapshot_download

        snapshot_download("stabilityai/sdxl-turbo")

    @modal.enter()
    def load(self):
        self.pipe = AutoPipelineForText2Image.from_pretrained("stabilityai/sdxl-turbo", torch_dtype=torch.float16,
                                                              variant="fp16").to("cuda")

    @modal.web_endpoint()
    def generate(self, prompt: str):
        image = self.pipe(prompt, num_inference_steps=1, guidance_scale=0.0).images[0]
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG")
        return modal.Response(content=buffer.getvalue(), media_type="image/jpeg")
