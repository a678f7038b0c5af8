"""Images uploaded from the compose editor: checked with Pillow, resized to the email width,
stored through Django's storage API (the media folder, or S3 through django-storages, tested
against moto's S3 server) and linked by absolute URL; bad files get a JSON error, never a 500."""

from __future__ import annotations

import io
import subprocess
import sys
import time

import boto3
import pytest
import requests
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from core.exceptions import ApplicationError
from core.roles import Role
from publishing.services.images import image_upload
from publishing.services.rendering import publication_content
from tests.factories import PublicationFactory
from tests.faults import free_port

pytestmark = pytest.mark.django_db
UPLOAD = "/admin/publishing/images/"


def image_file(name="photo.jpg", size=(2400, 1600), kind="JPEG", **save) -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 60, 30)).save(out, kind, **save)
    return SimpleUploadedFile(name, out.getvalue(), content_type=f"image/{kind.lower()}")


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SITE_URL = "https://news.example.com"
    return settings.MEDIA_ROOT


@pytest.fixture
def editor_client(editor):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    client.get("/admin/")  # sets the CSRF cookie
    return client


def post_image(client, upload):
    token = client.cookies["csrftoken"].value
    return client.post(UPLOAD, {"file": upload}, HTTP_X_CSRFTOKEN=token, HTTP_ACCEPT="application/json")


def test_a_wide_photo_is_resized_to_1200_px_stored_in_media_and_answered_with_an_absolute_url(editor_client, media):
    response = post_image(editor_client, image_file())
    assert response.status_code == 201, response.content
    answer = response.json()
    assert (answer["width"], answer["height"]) == (1200, 800)
    assert answer["url"].startswith("https://news.example.com/media/editor/") and answer["url"].endswith(".jpg")
    stored = media / answer["url"].removeprefix("https://news.example.com/media/")
    with Image.open(stored) as image:
        assert (image.format, image.size) == ("JPEG", (1200, 800))


def test_the_stored_image_is_served_from_media_in_the_embedded_default(editor_client, media, client):
    url = post_image(editor_client, image_file("small.png", size=(300, 200), kind="PNG")).json()["url"]
    response = client.get(url.removeprefix("https://news.example.com"))
    assert response.status_code == 200
    assert Image.open(io.BytesIO(b"".join(response.streaming_content))).size == (300, 200)
    assert "sandbox" in response["Content-Security-Policy"]


def test_the_email_links_the_uploaded_image_by_its_absolute_url(editor, media, topic):
    stored = image_upload(actor=editor, upload=image_file("chart.png", size=(640, 480), kind="PNG"))
    publication = PublicationFactory(body=f"Results:\n\n![Sales by quarter]({stored.url})", topics=[topic])
    html = publication_content(publication=publication)["email"]["html"]
    assert f'src="{stored.url}"' in html and 'alt="Sales by quarter"' in html


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (SimpleUploadedFile("notes.jpg", b"not an image at all", content_type="image/jpeg"), "not an image"),
        (SimpleUploadedFile("x.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>"), "not an image"),
        (image_file("scan.tiff", size=(20, 20), kind="TIFF"), "TIFF is not accepted"),
    ],
)
def test_a_file_that_is_not_an_accepted_image_gets_a_json_error_and_nothing_is_stored(
    editor_client, media, upload, message
):
    response = post_image(editor_client, upload)
    assert response.status_code == 400
    assert message in response.json()["message"] and response.json()["extra"]["fields"]["file"]
    assert not media.exists() or not any(media.rglob("*.*"))


def test_a_truncated_image_is_refused(editor_client, media):
    whole = image_file(size=(400, 300)).read()
    response = post_image(editor_client, SimpleUploadedFile("cut.jpg", whole[: len(whole) // 2]))
    assert response.status_code == 400 and "not an image" in response.json()["message"]


def test_an_image_over_the_size_limit_is_refused(editor_client, media, settings):
    settings.EDITOR_IMAGE_MAX_BYTES = 1024 * 1024
    big = SimpleUploadedFile("big.png", b"\x89PNG" + b"0" * (1024 * 1024 + 1))
    response = post_image(editor_client, big)
    assert response.status_code == 400 and "larger than 1 MB" in response.json()["message"]


def test_a_request_without_a_file_gets_a_json_error(editor_client, media):
    token = editor_client.cookies["csrftoken"].value
    response = editor_client.post(UPLOAD, {}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 400 and response.json()["extra"]["fields"]["file"]


def test_upload_needs_post_and_the_csrf_token(editor_client, media):
    assert editor_client.get(UPLOAD).status_code == 405
    assert editor_client.post(UPLOAD, {"file": image_file()}).status_code == 403
    assert not media.exists()


def test_a_viewer_may_not_upload_and_the_service_says_so(make_user, media):
    viewer = make_user(Role.VIEWER)
    client = Client()
    client.force_login(viewer)
    response = client.post(UPLOAD, {"file": image_file()})
    assert response.status_code == 403 and "editor role" in response.json()["message"]
    with pytest.raises(ApplicationError):
        image_upload(actor=viewer, upload=image_file())


def test_metadata_is_dropped_when_the_image_is_re_encoded(editor, media):
    exif = Image.Exif()
    exif[0x010F] = "Camera maker with a GPS"
    stored = image_upload(actor=editor, upload=image_file(size=(100, 100), exif=exif.tobytes()))
    with Image.open(media / stored.name) as image:
        assert not image.getexif()


@pytest.fixture(scope="module")
def s3_server():
    """moto in server mode, in a process of its own: a real S3 endpoint on loopback. Waits for it
    to answer, and fails (never hangs) if it exits or stays silent."""
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{url}/moto-api/", timeout=1)
            break
        except requests.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"moto server did not start: {process.communicate()[1].decode()[-2000:]}")
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)


def test_in_production_images_go_to_s3_compatible_storage_with_permanent_absolute_urls(editor, settings, s3_server):
    keys = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}
    s3 = boto3.client("s3", endpoint_url=s3_server, **keys)
    s3.create_bucket(Bucket="bulletin-media")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "bulletin-media",
                "endpoint_url": s3_server,
                "region_name": "us-east-1",
                "access_key": "test",
                "secret_key": "test",
                "querystring_auth": False,
                "file_overwrite": False,
            },
        },
    }
    assert type(storages["default"]).__name__ == "S3Storage"
    stored = image_upload(actor=editor, upload=image_file(size=(1600, 900)))
    assert stored.url == f"{s3_server}/bulletin-media/{stored.name}" and "Signature" not in stored.url
    body = s3.get_object(Bucket="bulletin-media", Key=stored.name)["Body"].read()
    assert Image.open(io.BytesIO(body)).size == (1200, 675)
