"""`vlm report`: one static HTML page to eyeball a caption run (no server, no network).

    entries.py   rows -> one entry per image (status, captions, errors) and the sample shown
    thumbs.py    small JPEG thumbnails as data: URIs (Pillow)
    page.py      the page: summary counts, a filter (all / ok / errors), a grid of cards
"""
