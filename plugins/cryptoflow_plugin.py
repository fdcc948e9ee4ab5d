"""cryptoflow's Airflow plugin: the history DAGs' timetable (:class:`cryptoflow.timetables.HistoryWindows`).

Airflow finds a custom timetable only through a plugin, in every component that reads DAGs (the
dag-processor serializes it, the scheduler and the API server read it back): this file is in the plugins
folder (``AIRFLOW__CORE__PLUGINS_FOLDER``) of the local stack and of docker-compose.yml.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from cryptoflow.timetables import HistoryWindows


class CryptoflowPlugin(AirflowPlugin):
    name = "cryptoflow"
    timetables = [HistoryWindows]
