"""CMS SignedData and the certificates in it (``pki.cms``, what ``renkei verify`` and the
relying party read): parse → a document or PkiError; its signature check → PkiError only."""

from fuzzlib import fuzz, instrumented

with instrumented():
    from pki import PkiError
    from pki.cms import check_signature, parse_signed


def one_input(data: bytes) -> None:
    doc = parse_signed(data)
    check_signature(doc, doc.content or b"")


if __name__ == "__main__":
    fuzz(one_input, (PkiError,))
