"""Certification marks: the QR code (:mod:`~registry.marks.qr`, python-qrcode),
the printable SVG and PNG (:mod:`~registry.marks.render`, :mod:`~registry.marks.png`)
and the content-addressed mark cache (:mod:`~registry.marks.cache`)."""
