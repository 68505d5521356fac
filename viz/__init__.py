"""The Solara app: the live park page and the sweep comparison page.

Depends on `experiments`, `agents` and `market`; nothing depends on it.
"""
