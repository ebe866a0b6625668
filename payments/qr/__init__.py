"""QR payment payloads and images (pure Python, no models).

emvco.py: EMVCo merchant-presented QR (TLV, CRC) with the PIX, PayNow, PromptPay and generic
profiles; upi.py: UPI `upi://pay` links; epc.py: the EPC069-12 SEPA credit-transfer payload;
schemes.py: the one facade the rest of the platform calls; images.py: PNG/SVG rendering.
"""
