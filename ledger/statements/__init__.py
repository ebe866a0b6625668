"""ledger.statements: bank statements (camt.053, MT940) imported, stored once and matched.

Credits on a collection account are matched to open payments through the matcher payments
registers (`hooks.register_credit_matcher`); what the reference does not settle waits in the
admin's manual-match queue. Public entry points: `services.import_statement`,
`services.record_synthetic_credit`, `services.match_line_manually`, `services.ignore_line`.
"""
