"""Forecast sharing (G1): a manufacturer reports her private forecast to a supplier.

Each round the manufacturer sees her forecast ``xi`` and sends a report ``m``; the supplier
sees only ``m`` and chooses capacity ``K``; demand ``D = xi + eps`` is realized; sales are
``min(D, K)``; the manufacturer earns ``(r - w) min(D, K)``, the supplier
``w min(D, K) - c K``. All parameters come from the session's game file and treatment.
"""

from otree.api import *

import lab_session
from cheaptalk.experiments import lab

doc = __doc__


class C(BaseConstants):
    NAME_IN_URL = "forecast_sharing"
    PLAYERS_PER_GROUP = 2
    NUM_ROUNDS = 30   # the most a session can have; config "num_rounds" sets how many are played
    # (skipping unplayed rounds costs time at the end of a session, so keep this near the need)
    MANUFACTURER_ROLE = "Manufacturer"
    SUPPLIER_ROLE = "Supplier"


class Subsession(BaseSubsession):
    game = models.StringField()
    treatment = models.StringField()
    matching = models.StringField()
    feedback = models.BooleanField()
    supplier_aid = models.BooleanField()
    played = models.BooleanField()       # False for rounds beyond the session's num_rounds
    seed = models.StringField()


class Group(BaseGroup):
    # drawn when the session is created; the forecast is shown to the manufacturer only
    forecast = models.FloatField()
    noise = models.FloatField()
    demand = models.FloatField()
    # decisions
    report = models.FloatField(label="Your report to the supplier")
    capacity = models.FloatField(label="Capacity to build")
    # timeouts: *_timed_out = the page's time ran out; *_is_default = nothing valid was
    # entered, so the default below was recorded (timeout = 1 in the long format)
    report_timed_out = models.BooleanField(initial=False)
    report_is_default = models.BooleanField(initial=False)
    capacity_timed_out = models.BooleanField(initial=False)
    capacity_is_default = models.BooleanField(initial=False)
    # outcome
    sales = models.FloatField()
    manufacturer_profit = models.FloatField()
    supplier_profit = models.FloatField()


class Player(BasePlayer):
    round_profit = models.FloatField()
    # comprehension quiz (round 1); answers are checked on the server and must be right
    quiz_sales = models.FloatField(label="Sales (units)")
    quiz_supplier_profit = models.FloatField(label="The supplier's profit (points)", min=-1e6)
    quiz_manufacturer_profit = models.FloatField(label="The manufacturer's profit (points)", min=-1e6)
    quiz_supplier_sees_forecast = models.BooleanField(
        label="Does the supplier see the manufacturer's forecast before choosing capacity?",
        choices=[[True, "Yes"], [False, "No"]], widget=widgets.RadioSelect)
    quiz_report_binding = models.BooleanField(
        label="Must the manufacturer's report equal her forecast?",
        choices=[[True, "Yes"], [False, "No"]], widget=widgets.RadioSelect)
    quiz_failures = models.IntegerField(initial=0)
    # supplier aid: how often the calculator was used this round
    aid_queries = models.IntegerField(initial=0)


# --- session set-up ------------------------------------------------------------------

def creating_session(subsession: Subsession):
    session = subsession.session
    game = lab_session.game_of(session)
    if game.kind != "forecast":
        raise ValueError(f"forecast_sharing needs a forecast game; {session.config.get('game')!r} is {game.kind}")
    n = lab_session.num_rounds(session, C.NUM_ROUNDS)
    subsession.game = str(session.config.get("game"))
    subsession.treatment = game.treatment
    subsession.played = subsession.round_number <= n
    if not subsession.played:
        return   # nobody reaches this round: no pairs, no draws
    subsession.matching = lab_session.match(subsession)
    subsession.feedback = bool(session.config.get("feedback", True))
    subsession.supplier_aid = bool(session.config.get("supplier_aid", False))
    subsession.seed = str(lab_session.session_seed(subsession))
    groups = subsession.get_groups()
    draws = lab.draw_forecast_rounds(game, len(groups), 1, lab_session.round_rng(subsession),
                                     decimals=_decimals(session))[0]
    for group, draw in zip(groups, draws):
        group.forecast = draw.forecast
        group.noise = draw.noise
        group.demand = lab.round_value(draw.forecast + draw.noise, _decimals(session) + 2)


def _decimals(session) -> int:
    return int(session.config.get("decimals", 0) or 0)


def _game(player_or_group):
    return lab_session.game_of(player_or_group.session)


def _played(player) -> bool:
    return player.subsession.played


# --- server-side bounds and validation -------------------------------------------------
# oTree checks min/max, but a float field also parses "nan" and "inf", which pass a range
# check; *_error_message rejects them.

def report_min(group):
    return _game(group).message_range[0]


def report_max(group):
    return _game(group).message_range[1]


def report_error_message(group, value):
    try:
        lo, hi = _game(group).message_range
        lab.check_number(value, "The report", lo, hi)
    except ValueError as exc:
        return str(exc)


def capacity_min(group):
    return _game(group).capacity_range[0]


def capacity_max(group):
    return _game(group).capacity_range[1]


def capacity_error_message(group, value):
    try:
        lab.check_number(value, "The capacity", *_game(group).capacity_range)
    except ValueError as exc:
        return str(exc)


def set_outcome(group: Group):
    game = _game(group)
    out = lab.forecast_outcome(game, group.forecast, group.noise, group.capacity)
    group.sales = out["sales"]
    group.manufacturer_profit = out["manufacturer_profit"]
    group.supplier_profit = out["supplier_profit"]
    for p in group.get_players():
        p.round_profit = out["manufacturer_profit"] if p.role == C.MANUFACTURER_ROLE else out["supplier_profit"]
    n = lab_session.num_rounds(group.session, C.NUM_ROUNDS)
    if group.round_number == n:
        for p in group.get_players():
            lab_session.pay_random_round(p, n, app=C.NAME_IN_URL)


def _parameters(game) -> dict:
    """The game's parameters as shown on the pages (numbers without trailing zeros)."""
    lo, hi = game.forecast_range
    return _shown(r=game.r, w=game.w, c=game.c, margin=game.r - game.w, a=game.noise_half_width,
                forecast_low=lo, forecast_high=hi,
                report_low=game.message_range[0], report_high=game.message_range[1],
                capacity_low=game.capacity_range[0], capacity_high=game.capacity_range[1],
                noise_distribution=game.noise.describe()["distribution"],
                forecast_distribution=game.forecast.describe()["distribution"])


def _shown(**values) -> dict:
    return {k: _fmt(v) if isinstance(v, float) else v for k, v in values.items()}


def _fmt(x, decimals=2):
    """Numbers as participants see them: no trailing zeros."""
    return f"{x:.{decimals}f}".rstrip("0").rstrip(".") if x is not None else ""


# --- pages ---------------------------------------------------------------------------------

class Instructions(Page):
    @staticmethod
    def is_displayed(player: Player):
        return player.round_number == 1

    @staticmethod
    def vars_for_template(player: Player):
        game = _game(player)
        return dict(p=_parameters(game), num_rounds=lab_session.num_rounds(player.session, C.NUM_ROUNDS),
                    feedback=player.subsession.feedback, supplier_aid=player.subsession.supplier_aid,
                    matching=player.subsession.matching,
                    decision_seconds=_fmt(lab_session.seconds(player.session, "decision_seconds")))


class Quiz(Page):
    form_model = "player"
    form_fields = ["quiz_sales", "quiz_supplier_profit", "quiz_manufacturer_profit",
                   "quiz_supplier_sees_forecast", "quiz_report_binding"]

    @staticmethod
    def is_displayed(player: Player):
        return player.round_number == 1

    @staticmethod
    def vars_for_template(player: Player):
        q = lab.forecast_quiz(_game(player))
        return dict(q={k: _fmt(v) for k, v in q.items()}, p=_parameters(_game(player)))

    @staticmethod
    def error_message(player: Player, values):
        q = lab.forecast_quiz(_game(player))
        wrong = []
        for field, key, what in (("quiz_sales", "sales", "sales"),
                                 ("quiz_supplier_profit", "supplier_profit", "the supplier's profit"),
                                 ("quiz_manufacturer_profit", "manufacturer_profit", "the manufacturer's profit")):
            if abs(values[field] - q[key]) > 0.01:
                wrong.append(what)
        if values["quiz_supplier_sees_forecast"] is not False:
            wrong.append("what the supplier sees")
        if values["quiz_report_binding"] is not False:
            wrong.append("whether the report must equal the forecast")
        if wrong:
            player.quiz_failures += 1
            return ("Not all answers are right yet (" + ", ".join(wrong)
                    + "). Please read the instructions again and correct them.")


class Report(Page):
    form_model = "group"
    form_fields = ["report"]
    # oTree would record 0 for a field left empty at a timeout, which looks like a choice;
    # None lets before_next_page record the flagged default instead
    timeout_submission = {"report": None}

    @staticmethod
    def is_displayed(player: Player):
        return _played(player) and player.role == C.MANUFACTURER_ROLE

    @staticmethod
    def get_timeout_seconds(player: Player):
        return lab_session.seconds(player.session, "decision_seconds")

    @staticmethod
    def vars_for_template(player: Player):
        return dict(p=_parameters(_game(player)), forecast=_fmt(player.group.forecast),
                    num_rounds=lab_session.num_rounds(player.session, C.NUM_ROUNDS))

    @staticmethod
    def before_next_page(player: Player, timeout_happened):
        group = player.group
        if timeout_happened:
            group.report_timed_out = True
            if group.field_maybe_none("report") is None:
                group.report = lab.default_report(_game(player), _decimals(player.session))
                group.report_is_default = True


class WaitForReport(WaitPage):
    title_text = "Please wait"
    body_text = "Waiting for the manufacturer's report."

    @staticmethod
    def is_displayed(player: Player):
        return _played(player)


class Capacity(Page):
    form_model = "group"
    form_fields = ["capacity"]
    # oTree would record 0 for a field left empty at a timeout, which looks like a choice;
    # None lets before_next_page record the flagged default instead
    timeout_submission = {"capacity": None}

    @staticmethod
    def is_displayed(player: Player):
        return _played(player) and player.role == C.SUPPLIER_ROLE

    @staticmethod
    def get_timeout_seconds(player: Player):
        return lab_session.seconds(player.session, "decision_seconds")

    @staticmethod
    def vars_for_template(player: Player):
        # Only the report, never the forecast: this page is sent to the supplier.
        return dict(p=_parameters(_game(player)), report=_fmt(player.group.report),
                    supplier_aid=player.subsession.supplier_aid,
                    num_rounds=lab_session.num_rounds(player.session, C.NUM_ROUNDS))

    @staticmethod
    def live_method(player: Player, data):
        """The supplier aid: expected profit of a capacity under the supplier's belief."""
        if not player.subsession.supplier_aid:
            return {player.id_in_group: {"error": "The calculator is not available in this session."}}
        if not isinstance(data, dict):
            return {player.id_in_group: {"error": "Enter a forecast and a capacity."}}
        try:
            result = lab.supplier_aid(_game(player), data.get("belief"), data.get("capacity"))
        except ValueError as exc:
            return {player.id_in_group: {"error": str(exc).capitalize()}}
        player.aid_queries += 1
        return {player.id_in_group: {k: round(v, 2) for k, v in result.items()}}

    @staticmethod
    def before_next_page(player: Player, timeout_happened):
        group = player.group
        if timeout_happened:
            group.capacity_timed_out = True
            if group.field_maybe_none("capacity") is None:
                group.capacity = lab.default_capacity(_game(player), _decimals(player.session))
                group.capacity_is_default = True


class WaitForOutcome(WaitPage):
    after_all_players_arrive = set_outcome
    title_text = "Please wait"
    body_text = "Waiting for the other participant."

    @staticmethod
    def is_displayed(player: Player):
        return _played(player)


class Results(Page):
    @staticmethod
    def is_displayed(player: Player):
        return _played(player)

    @staticmethod
    def get_timeout_seconds(player: Player):
        return lab_session.seconds(player.session, "results_seconds")

    @staticmethod
    def vars_for_template(player: Player):
        g = player.group
        return dict(feedback=player.subsession.feedback,
                    forecast=_fmt(g.forecast), report=_fmt(g.report), capacity=_fmt(g.capacity),
                    demand=_fmt(g.demand), sales=_fmt(g.sales),
                    profit=_fmt(player.round_profit),
                    num_rounds=lab_session.num_rounds(player.session, C.NUM_ROUNDS))

    @staticmethod
    def app_after_this_page(player: Player, upcoming_apps):
        if player.round_number == lab_session.num_rounds(player.session, C.NUM_ROUNDS) and upcoming_apps:
            return upcoming_apps[0]


page_sequence = [Instructions, Quiz, Report, WaitForReport, Capacity, WaitForOutcome, Results]


# --- data out: the long format of cheaptalk --------------------------------------------------

def custom_export(players):
    """One row per decision (``cheaptalk.data.longformat``); rounds not played are left out.

    ``timeout`` is 1 where a default was recorded because nothing valid was entered in time.
    """
    yield list(lab.LONG_COLUMNS)
    for p in players:
        g = p.group
        if not p.subsession.played:
            continue
        common = dict(session=p.session.code, subject=p.participant.code,
                      round_number=p.round_number, pair=f"{p.session.code}-r{p.round_number}-g{g.id_in_subsession}",
                      treatment=p.subsession.treatment, state=g.forecast, message=g.field_maybe_none("report"))
        if p.role == C.MANUFACTURER_ROLE:
            if g.field_maybe_none("report") is None:
                continue   # the round was not reached
            yield lab.long_row(role="sender", action=None, timeout=g.report_is_default, **common)
        else:
            if g.field_maybe_none("capacity") is None:
                continue
            yield lab.long_row(role="receiver", action=g.field_maybe_none("capacity"), timeout=g.capacity_is_default, **common)
