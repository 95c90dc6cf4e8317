"""The analyst console: work the alerts, give verdicts, and feed them back to the pipeline.

A web application (``python -m console serve``) over the warehouse, and its relay
(``python -m console relay``), which opens a case for every new alert and publishes the
verdicts to ``fraud.feedback``. It imports the domain and the warehouse; nothing imports it.
"""
