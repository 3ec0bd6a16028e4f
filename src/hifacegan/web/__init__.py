"""``hifacegan serve``: a local web page (Gradio, the ``[web]`` extra) to restore photos in the browser.

:mod:`hifacegan.web.session` holds what the page does (limits, restoring, writing results) without
Gradio; :mod:`hifacegan.web.app` builds and runs the page.
"""
