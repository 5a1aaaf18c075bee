"""A finite sender-receiver game (G2) given as a game file.

Each round the sender sees a state ``s`` drawn from the prior ``pi`` and picks a message
(each message literally claims a state); the receiver sees only the message and picks an
action from the game's grid; payoffs ``u_S(s, m, a)`` and ``u_R(s, m, a)`` come from the
game file (for example the ``crawford-sobel`` preset).
"""

from otree.api import *

import lab_session
from cheaptalk.experiments import lab

doc = __doc__


class C(BaseConstants):
    NAME_IN_URL = "sender_receiver"
    PLAYERS_PER_GROUP = 2
    NUM_ROUNDS = 30   # the most a session can have; config "num_rounds" sets how many are played
    # (skipping unplayed rounds costs time at the end of a session, so keep this near the need)
    SENDER_ROLE = "Sender"
    RECEIVER_ROLE = "Receiver"


class Subsession(BaseSubsession):
    game = models.StringField()
    treatment = models.StringField()
    matching = models.StringField()
    feedback = models.BooleanField()
    played = models.BooleanField()
    seed = models.StringField()


class Group(BaseGroup):
    state_index = models.IntegerField()     # drawn from the prior; shown to the sender only
    state = models.FloatField()
    message_index = models.IntegerField(label="Your message to the receiver", widget=widgets.RadioSelect)
    message = models.FloatField()           # the state the message literally claims
    action_index = models.IntegerField(label="Your action")
    action = models.FloatField()
    message_timed_out = models.BooleanField(initial=False)
    message_is_default = models.BooleanField(initial=False)
    action_timed_out = models.BooleanField(initial=False)
    action_is_default = models.BooleanField(initial=False)
    sender_payoff = models.FloatField()
    receiver_payoff = models.FloatField()


class Player(BasePlayer):
    round_profit = models.FloatField()
    quiz_sender_payoff = models.FloatField(label="The sender's payoff (points)", min=-1e9)
    quiz_receiver_payoff = models.FloatField(label="The receiver's payoff (points)", min=-1e9)
    quiz_receiver_sees_state = models.BooleanField(
        label="Does the receiver see the state before choosing an action?",
        choices=[[True, "Yes"], [False, "No"]], widget=widgets.RadioSelect)
    quiz_failures = models.IntegerField(initial=0)


def _game(obj):
    return lab_session.game_of(obj.session)


def creating_session(subsession: Subsession):
    session = subsession.session
    game = _game(subsession)
    if game.kind != "finite":
        raise ValueError(f"sender_receiver needs a finite game; {session.config.get('game')!r} is {game.kind}")
    for role in ("sender", "receiver"):
        lab.payoff_table(game, role)   # fails early if payoffs depend on the message
    n = lab_session.num_rounds(session, C.NUM_ROUNDS)
    subsession.game = str(session.config.get("game"))
    subsession.treatment = game.treatment
    subsession.played = subsession.round_number <= n
    if not subsession.played:
        return   # nobody reaches this round: no pairs, no draws
    subsession.matching = lab_session.match(subsession)
    subsession.feedback = bool(session.config.get("feedback", True))
    subsession.seed = str(lab_session.session_seed(subsession))
    groups = subsession.get_groups()
    states = lab.draw_states(game, len(groups), 1, lab_session.round_rng(subsession))[0]
    for group, s in zip(groups, states):
        group.state_index = int(s)
        group.state = float(game.states[s])


# choices are checked by oTree on the server: an index outside the list is rejected
def message_index_choices(group):
    game = _game(group)
    return [[i, f"“The state is {label}”"] for i, label in enumerate(game.message_labels)]


def action_index_choices(group):
    return [[j, _fmt(a)] for j, a in enumerate(_game(group).actions)]


def set_outcome(group: Group):
    game = _game(group)
    s, m, a = group.state_index, group.message_index, group.action_index
    group.sender_payoff = float(game.sender_payoff[s, m, a])
    group.receiver_payoff = float(game.receiver_payoff[s, m, a])
    for p in group.get_players():
        p.round_profit = group.sender_payoff if p.role == C.SENDER_ROLE else group.receiver_payoff
    n = lab_session.num_rounds(group.session, C.NUM_ROUNDS)
    if group.round_number == n:
        for p in group.get_players():
            lab_session.pay_random_round(p, n, app=C.NAME_IN_URL)


def _fmt(x, decimals=2):
    return f"{x:.{decimals}f}".rstrip("0").rstrip(".") if x is not None else ""


def _tables(game):
    states = [_fmt(s) for s in game.states]
    actions = [_fmt(a) for a in game.actions]
    rows = {role: [(states[i], [_fmt(v) for v in row]) for i, row in enumerate(lab.payoff_table(game, role))]
            for role in ("sender", "receiver")}
    prior = [(states[i], _fmt(100 * p, 1)) for i, p in enumerate(game.prior)]
    return dict(states=states, actions=actions, sender_rows=rows["sender"],
                receiver_rows=rows["receiver"], prior=prior, messages=list(game.message_labels))


class Instructions(Page):
    @staticmethod
    def is_displayed(player: Player):
        return player.round_number == 1

    @staticmethod
    def vars_for_template(player: Player):
        return dict(t=_tables(_game(player)), num_rounds=lab_session.num_rounds(player.session, C.NUM_ROUNDS),
                    feedback=player.subsession.feedback, matching=player.subsession.matching,
                    decision_seconds=_fmt(lab_session.seconds(player.session, "decision_seconds")))


class Quiz(Page):
    form_model = "player"
    form_fields = ["quiz_sender_payoff", "quiz_receiver_payoff", "quiz_receiver_sees_state"]

    @staticmethod
    def is_displayed(player: Player):
        return player.round_number == 1

    @staticmethod
    def vars_for_template(player: Player):
        q = lab.finite_quiz(_game(player))
        return dict(q=dict(state=_fmt(q["state"]), message=q["message"], action=_fmt(q["action"])),
                    t=_tables(_game(player)))

    @staticmethod
    def error_message(player: Player, values):
        q = lab.finite_quiz(_game(player))
        wrong = []
        if abs(values["quiz_sender_payoff"] - round(q["sender_payoff"], 2)) > 0.011:
            wrong.append("the sender's payoff")
        if abs(values["quiz_receiver_payoff"] - round(q["receiver_payoff"], 2)) > 0.011:
            wrong.append("the receiver's payoff")
        if values["quiz_receiver_sees_state"] is not False:
            wrong.append("what the receiver sees")
        if wrong:
            player.quiz_failures += 1
            return ("Not all answers are right yet (" + ", ".join(wrong)
                    + "). Please look at the instructions and tables again.")


class Message(Page):
    form_model = "group"
    form_fields = ["message_index"]
    # oTree would record 0 for a field left empty at a timeout, which looks like a choice;
    # None lets before_next_page record the flagged default instead
    timeout_submission = {"message_index": None}

    @staticmethod
    def is_displayed(player: Player):
        return player.subsession.played and player.role == C.SENDER_ROLE

    @staticmethod
    def get_timeout_seconds(player: Player):
        return lab_session.seconds(player.session, "decision_seconds")

    @staticmethod
    def vars_for_template(player: Player):
        return dict(state=_fmt(player.group.state), t=_tables(_game(player)),
                    num_rounds=lab_session.num_rounds(player.session, C.NUM_ROUNDS))

    @staticmethod
    def before_next_page(player: Player, timeout_happened):
        group, game = player.group, _game(player)
        if timeout_happened:
            group.message_timed_out = True
            if group.field_maybe_none("message_index") is None:
                group.message_index = lab.default_message(game)
                group.message_is_default = True
        group.message = float(game.message_values[group.message_index])


class WaitForMessage(WaitPage):
    title_text = "Please wait"
    body_text = "Waiting for the sender's message."

    @staticmethod
    def is_displayed(player: Player):
        return player.subsession.played


class Action(Page):
    form_model = "group"
    form_fields = ["action_index"]
    # oTree would record 0 for a field left empty at a timeout, which looks like a choice;
    # None lets before_next_page record the flagged default instead
    timeout_submission = {"action_index": None}

    @staticmethod
    def is_displayed(player: Player):
        return player.subsession.played and player.role == C.RECEIVER_ROLE

    @staticmethod
    def get_timeout_seconds(player: Player):
        return lab_session.seconds(player.session, "decision_seconds")

    @staticmethod
    def vars_for_template(player: Player):
        # Only the message, never the state: this page is sent to the receiver.
        game = _game(player)
        return dict(message=game.message_labels[player.group.message_index], t=_tables(game),
                    num_rounds=lab_session.num_rounds(player.session, C.NUM_ROUNDS))

    @staticmethod
    def before_next_page(player: Player, timeout_happened):
        group, game = player.group, _game(player)
        if timeout_happened:
            group.action_timed_out = True
            if group.field_maybe_none("action_index") is None:
                group.action_index = lab.default_action(game)
                group.action_is_default = True
        group.action = float(game.actions[group.action_index])


class WaitForOutcome(WaitPage):
    after_all_players_arrive = set_outcome
    title_text = "Please wait"
    body_text = "Waiting for the other participant."

    @staticmethod
    def is_displayed(player: Player):
        return player.subsession.played


class Results(Page):
    @staticmethod
    def is_displayed(player: Player):
        return player.subsession.played

    @staticmethod
    def get_timeout_seconds(player: Player):
        return lab_session.seconds(player.session, "results_seconds")

    @staticmethod
    def vars_for_template(player: Player):
        g, game = player.group, _game(player)
        return dict(feedback=player.subsession.feedback, state=_fmt(g.state),
                    message=game.message_labels[g.message_index], action=_fmt(g.action),
                    profit=_fmt(player.round_profit),
                    num_rounds=lab_session.num_rounds(player.session, C.NUM_ROUNDS))

    @staticmethod
    def app_after_this_page(player: Player, upcoming_apps):
        if player.round_number == lab_session.num_rounds(player.session, C.NUM_ROUNDS) and upcoming_apps:
            return upcoming_apps[0]


page_sequence = [Instructions, Quiz, Message, WaitForMessage, Action, WaitForOutcome, Results]


def custom_export(players):
    """One row per decision in the long format of ``cheaptalk.data``; message = claimed state."""
    yield list(lab.LONG_COLUMNS)
    for p in players:
        g = p.group
        if not p.subsession.played:
            continue
        common = dict(session=p.session.code, subject=p.participant.code,
                      round_number=p.round_number, pair=f"{p.session.code}-r{p.round_number}-g{g.id_in_subsession}",
                      treatment=p.subsession.treatment, state=g.state, message=g.field_maybe_none("message"))
        if p.role == C.SENDER_ROLE:
            if g.field_maybe_none("message") is None:
                continue
            yield lab.long_row(role="sender", action=None, timeout=g.message_is_default, **common)
        else:
            if g.field_maybe_none("action") is None:
                continue
            yield lab.long_row(role="receiver", action=g.field_maybe_none("action"), timeout=g.action_is_default, **common)
