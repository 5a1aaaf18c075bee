from otree.api import Bot, Submission, expect

from . import Payment


class PlayerBot(Bot):
    def play_round(self):
        participant = self.participant
        expect(1 <= participant.paid_round, True)
        expect(participant.paid_round <= int(self.session.config["num_rounds"]), True)
        expect(abs(float(participant.payoff) - max(participant.paid_profit, 0.0)) < 0.006, True)
        expect("was drawn for payment" in self.html, True)
        yield Submission(Payment, check_html=False)   # the last page has no button
