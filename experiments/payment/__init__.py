"""The last page: which round was drawn for payment and what the participant earns."""

from otree.api import *

doc = __doc__


class C(BaseConstants):
    NAME_IN_URL = "payment"
    PLAYERS_PER_GROUP = None
    NUM_ROUNDS = 1


class Subsession(BaseSubsession):
    pass


class Group(BaseGroup):
    pass


class Player(BasePlayer):
    pass


class Payment(Page):
    @staticmethod
    def vars_for_template(player: Player):
        participant = player.participant
        profit = participant.paid_profit
        return dict(paid_round=participant.paid_round,
                    profit=f"{profit:.2f}".rstrip("0").rstrip("."),
                    total=participant.payoff_plus_participation_fee())


page_sequence = [Payment]
