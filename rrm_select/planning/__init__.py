"""``rrm-select plan``: from a judge's calibration to the selector settings worth using.

`plan` simulates each setting's rules (`model`) against a judge built from its measured figures
(`judge`: accuracy, position bias, abstentions, pairs of varying difficulty; `answers`:
right and wrong answers, majority voting, the answer-aware knockout; `budgets`: reports at
several thinking budgets, and escalation over them; `votes`: one match, vote by vote) and ranks
them by predicted accuracy within a cost limit (`plan`, returning a `result.Plan`); `cli` is the
command. It uses ``from rrm_select import ...``, the selectors' own rules where it replays them
(`rrm_select.voting.next_wave`, Swiss pairing, the Bradley-Terry fit), numpy and pydantic.
"""

from rrm_select.planning.answers import AnswerModel
from rrm_select.planning.judge import JudgeFigures, figures_of_report, judge_figures
from rrm_select.planning.grid import answer_settings, build, default_settings
from rrm_select.planning.model import Simulation
from rrm_select.planning.plan import plan
from rrm_select.planning.result import Plan, Prediction
from rrm_select.planning.setting import Setting

__all__ = ["AnswerModel", "JudgeFigures", "Plan", "Prediction", "Setting", "Simulation", "answer_settings", "build",
           "default_settings", "figures_of_report", "judge_figures", "plan"]
