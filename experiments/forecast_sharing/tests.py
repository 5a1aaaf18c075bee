"""Bots for forecast_sharing (`otree test CONFIG`).

The bots' choices are synthetic: each manufacturer inflates her forecast by a personal
amount plus noise, each supplier puts a personal weight ("trust") on the report and the
rest on the babbling capacity. They exist to exercise the app and the data path, not to
stand in for people.

Cases: ``play`` (normal play, with failing submissions: a wrong quiz, out-of-range,
non-numeric and non-finite numbers, a tampered post), ``timeouts`` (decisions run out of
time with and without a valid entry).
"""

import asyncio
import re

import numpy as np

from otree.api import Bot, Submission, SubmissionMustFail, expect
from otree.database import db
from cheaptalk.experiments import lab

from . import C, Capacity, Instructions, Quiz, Report, Results, _game


BAD_NUMBERS = ["nan", "inf", "-inf", "abc", "", "1e9", "-1"]


def _rng(bot):
    return np.random.default_rng([bot.participant.id_in_session, bot.round_number, 7])


def _contains_number(html: str, value: float) -> bool:
    """Whether ``value`` appears in the page as a number of its own (not part of another)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return re.search(rf"(?<![\w.]){re.escape(text)}(?:\.0+)?(?![\w]|\.\d*[1-9])", html) is not None


def _without_debug_ids(html: str) -> str:
    """The page without numbers that can equal a forecast by chance: the "Basic info" table
    of oTree's debug panel (group and participant ids, shown only outside production) and
    the countdown's remaining seconds, and oTree's page counter in its URLs."""
    html = re.sub(r"remainingTimeoutSeconds = [\d.]+;", "", html)   # the page's own timer
    html = re.sub(r"page_index=\d+", "", html)                        # oTree's page counter
    html = re.sub(r"/p/[^\"'\s]*", "", html)                          # page URLs (end in the counter)
    start = html.find('<h6 class="card-title">Basic info</h6>')
    if start < 0:
        return html
    end = html.find("</table>", start)
    return html[:start] + html[end:]


class PlayerBot(Bot):
    cases = ["play", "timeouts"]

    @property
    def fresh_group(self):
        """The group as stored now (the bot's copy can predate the partner's decision)."""
        group = self.group
        return db.query(type(group)).populate_existing().filter_by(id=group.id).one()

    def play_round(self):
        game = _game(self.player)
        decimals = int(self.session.config.get("decimals", 0) or 0)
        if self.round_number == 1:
            yield Instructions
            q = lab.forecast_quiz(game)
            right = dict(quiz_sales=q["sales"], quiz_supplier_profit=q["supplier_profit"],
                         quiz_manufacturer_profit=q["manufacturer_profit"],
                         quiz_supplier_sees_forecast=False, quiz_report_binding=False)
            if self.case == "play":
                yield SubmissionMustFail(Quiz, dict(right, quiz_sales=q["sales"] + 1))
                yield SubmissionMustFail(Quiz, dict(right, quiz_supplier_sees_forecast=True))
            yield Quiz, right
            if self.case == "play":
                expect(self.player.quiz_failures, 2)
        if not self.subsession.played:
            return
        group = self.fresh_group
        rng = _rng(self)
        if self.player.role == C.MANUFACTURER_ROLE:
            lo, hi = game.message_range
            if self.case == "play" and self.round_number == 1:
                for bad in BAD_NUMBERS + [str(lo - 1), str(hi + 0.5)]:
                    yield SubmissionMustFail(Report, dict(report=bad))
            inflation = 10.0 * (self.participant.id_in_session % 4) + rng.normal(0, 5)
            report = lab.round_value(np.clip(group.forecast + inflation, lo, hi), decimals)
            if self.case == "timeouts" and self.round_number == 2:
                yield Submission(Report, {}, timeout_happened=True)      # nothing entered
                expect(self.fresh_group.report_is_default, True)
                expect(self.fresh_group.report, lab.default_report(game, decimals))
            elif self.case == "timeouts" and self.round_number == 3:
                yield Submission(Report, dict(report=report), timeout_happened=True)   # entered, not sent
                expect(self.fresh_group.report_timed_out, True)
                expect(self.fresh_group.report_is_default, False)
                expect(self.fresh_group.report, report)
            elif self.case == "play" and self.round_number == 2:
                # a tampered post: an extra field naming the forecast must change nothing
                forecast = group.forecast
                yield Submission(Report, dict(report=report, forecast=lo, demand=lo), check_html=False)
                expect(self.fresh_group.forecast, forecast)
                expect(self.fresh_group.report, report)
            else:
                yield Report, dict(report=report)
                expect(self.fresh_group.report_is_default, False)
        else:
            # the supplier's decision page must not reveal the forecast
            if not _contains_number(lab_numbers_on_capacity_page(self), group.forecast):
                expect(_contains_number(_without_debug_ids(self.html), group.forecast), False)
            lo, hi = game.capacity_range
            if self.case == "play" and self.round_number == 1:
                for bad in BAD_NUMBERS + [str(hi + 1)]:
                    yield SubmissionMustFail(Capacity, dict(capacity=bad))
            trust = 0.25 * (self.participant.id_in_session % 4 + 1)
            target = trust * (group.report + game.z_star) + (1 - trust) * game.babbling_capacity()
            capacity = lab.round_value(np.clip(target + rng.normal(0, 5), lo, hi), decimals)
            if self.case == "timeouts" and self.round_number == 4:
                yield Submission(Capacity, {}, timeout_happened=True)
                expect(self.fresh_group.capacity_is_default, True)
                expect(self.fresh_group.capacity, lab.default_capacity(game, decimals))
            else:
                yield Capacity, dict(capacity=capacity)
                expect(self.fresh_group.capacity_is_default, False)
        feedback = self.subsession.feedback
        expect("Manufacturer's forecast" in self.html, feedback)
        yield Results


def lab_numbers_on_capacity_page(bot) -> str:
    """Numbers the supplier's page shows whatever the forecast is (report, parameters, round).

    If the forecast happens to equal one of them, its absence cannot be checked by value.
    """
    game = _game(bot.player)
    values = [bot.fresh_group.report, game.r, game.w, game.c, game.noise_half_width,
              *game.capacity_range, *game.forecast_range, *game.message_range,
              bot.round_number, bot.session.config.get("num_rounds", 0),
              bot.session.config.get("decision_seconds", 0)]
    return " ".join(f"{v:.6f}".rstrip("0").rstrip(".") for v in values)


def _ask_supplier_aid(method, data) -> dict:
    """Call the live method as the supplier (id_in_group 2) and return its answer.

    oTree 6 hands bots the live method wrapped as an async generator; take its one answer.
    """
    result = method(2, data)
    if hasattr(result, "__anext__"):
        async def first():
            async for item in result:
                return item
        result = asyncio.run(first())
    return result[2]


def call_live_method(method, group, case, round_number, **kwargs):
    """The supplier aid: valid queries answer with the expected profit, bad ones with an error."""
    if not group.subsession.supplier_aid:
        expect("error" in _ask_supplier_aid(method, {"belief": 100, "capacity": 100}), True)
        return
    game = _game(group)
    belief = float(np.mean(game.forecast_range))
    capacity = belief + game.z_star
    answer = _ask_supplier_aid(method, {"belief": belief, "capacity": capacity})
    expected = lab.supplier_aid(game, belief, capacity)["expected_profit"]
    expect(abs(answer["expected_profit"] - expected) < 0.01, True)
    for bad in ({"belief": "nan", "capacity": 100}, {"belief": 100, "capacity": -5},
                {"belief": None, "capacity": 100}, {"belief": 1e12, "capacity": 100}, "junk"):
        expect("error" in _ask_supplier_aid(method, bad), True)
