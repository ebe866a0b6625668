"""Test-mode collection account and QR scheme ids for the development and test settings: valid
example values (no real account), so bank transfers and QR payments work out of the box."""

SANDBOX_COLLECTION_ACCOUNT = {
    "iban": "DE89370400440532013000",
    "bic": "COBADEFFXXX",
    "name": "QR Payments Test",
}
SANDBOX_QR_SCHEME_ACCOUNTS = {
    "emvco": {"merchant_id": "4000123456789012", "merchant_name": "QR Payments Test",
              "merchant_city": "Berlin", "country": "DE"},
    "pix": {"merchant_id": "pix-test@example.com", "merchant_name": "QR Payments Test",
            "merchant_city": "Sao Paulo"},
    "paynow": {"merchant_id": "201912345R", "merchant_name": "QR Payments Test",
               "merchant_city": "Singapore"},
    "promptpay": {"merchant_id": "0812345678", "merchant_name": "QR Payments Test",
                  "merchant_city": "Bangkok"},
    "upi": {"merchant_id": "qrpayments@okaxis", "merchant_name": "QR Payments Test",
            "merchant_city": "Mumbai"},
}  # fmt: skip
