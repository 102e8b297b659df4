"""ProviderConformance run as a third party runs it: it passes a good adapter and fails the
contract's breaches, each in the test that names it."""

from __future__ import annotations

import pytest

SUITE = '''
from plugbay.testing import ProviderConformance
from plugbay.testing.fake import FakeAdapter, FakeOptions, FakeProvider
from plugbay import hookimpl


class TwoRoles(FakeProvider):
    """Opens every chunk with the role, not just the first."""

    async def _events(self, request, stream):
        async for event in super()._events(request, stream):
            yield event.replace(b'"delta":{"content"', b'"delta":{"role":"assistant","content"')


class WrongModel(FakeProvider):
    """Answers with the upstream's model name instead of the public one."""

    async def chat(self, request):
        answer = await super().chat(request)
        answer.content = answer.content.replace(
            b'"model":"conformance-model"', b'"model":"conformance-upstream-model"'
        )
        return answer


class Broken:
    @hookimpl
    def plugbay_register_adapters(self, register):
        register.adapter("two-roles", TwoRoles, options=FakeOptions)
        register.adapter("wrong-model", WrongModel, options=FakeOptions)


class FakeSuite(ProviderConformance):
    scripted = False
    supports_tools = False

    def expected_usage(self, scenario, *, tools):
        return 10, len(scenario.text.split())


class TestFake(FakeSuite):
    plugins = (FakeAdapter(),)

    def provider(self, upstream):
        return {"type": "fake"}


class TestTwoRoles(FakeSuite):
    plugins = (Broken(),)

    def provider(self, upstream):
        return {"type": "two-roles"}


class TestWrongModel(FakeSuite):
    plugins = (Broken(),)

    def provider(self, upstream):
        return {"type": "wrong-model"}
'''


@pytest.fixture
def outcomes(pytester):
    pytester.makepyfile(test_suite=SUITE)
    # a subprocess: an in-process run would drop the modules it imported from sys.modules
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", timeout=300)
    lines = result.outlines
    return {
        line.split()[1].split("::", 1)[1]: line.split()[0]
        for line in lines
        if line.startswith(("PASSED ", "FAILED ", "SKIPPED ")) and "::" in line
    }, "\n".join(lines)


def test_a_good_adapter_passes_and_breaches_fail_where_named(outcomes):
    seen, output = outcomes
    fake = {name: outcome for name, outcome in seen.items() if name.startswith("TestFake::")}
    assert fake, output
    assert set(fake.values()) == {"PASSED"}, output
    assert seen["TestTwoRoles::test_stream_usage_chunk_when_asked"] == "FAILED"
    assert seen["TestTwoRoles::test_stream_is_valid_sse_without_usage_unless_asked"] == "FAILED"
    assert seen["TestTwoRoles::test_answer_is_openai_json_with_the_public_model"] == "PASSED"
    assert "exactly one role opener" in output
    assert seen["TestWrongModel::test_answer_is_openai_json_with_the_public_model"] == "FAILED"
    assert seen["TestWrongModel::test_stream_usage_chunk_when_asked"] == "PASSED"
