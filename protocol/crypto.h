// Placeholder: implemented by the crypto module work.
#pragma once
