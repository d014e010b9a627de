"""One way to send a contract call: simulate, sign locally, send, decode any refusal.

Building the transaction estimates its gas, which runs it: a refusal surfaces there, before
anything is signed, as `TransactionReverted` named after the contract's custom error. A
transaction can still fail once mined (its window closed, or another node's transaction landed
first, between the estimate and the block): the receipt carries no reason, so the call is run
again against the chain as it now is, which names the contract's error in the same way.
"""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from tclearn.chain.backends import Chain
from tclearn.chain.revert import ErrorDecoder
from tclearn.errors import ChainError, TransactionReverted


def send(chain: Chain, account: LocalAccount, call: Any, errors: ErrorDecoder) -> TxReceipt:
    """Sends `call` (a web3 contract function or constructor) from `account`."""
    try:
        tx = call.build_transaction(
            {
                "from": account.address,
                "nonce": chain.w3.eth.get_transaction_count(account.address, "pending"),
                "chainId": chain.chain_id,
            }
        )
    except Exception as exc:
        reverted = errors.from_exception(exc)
        if reverted is None:
            raise
        raise reverted from None
    receipt = chain.send_raw(account.sign_transaction(tx).raw_transaction)
    if receipt["status"] != 1:
        raise _reason(chain, tx, receipt, errors)
    return receipt


def _reason(chain: Chain, tx: dict[str, Any], receipt: TxReceipt, errors: ErrorDecoder) -> TransactionReverted:
    """Why a mined transaction failed: its call replayed on the latest state."""
    replay = {key: tx[key] for key in ("from", "to", "data", "value") if key in tx}
    try:
        chain.w3.eth.call(replay)  # type: ignore[arg-type]
    except ChainError:
        raise
    except Exception as exc:
        reverted = errors.from_exception(exc)
        if reverted is not None:
            return reverted
    return TransactionReverted("RevertedOnChain", {"transaction": receipt["transactionHash"]})
